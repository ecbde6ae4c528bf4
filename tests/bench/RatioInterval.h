#pragma once
// How precisely a benchmark run knows a ratio of two rates (berth_bench_relay). Each target's
// measured units (a request row's slices, an archive row's rounds) were taken in turns, close
// in time to the other targets' units of the same cycle; the ratio of two targets' rates is
// that of their totals, and ratioHalfWidth says how far it could still move with more units.
// On a noisy machine (this 2-core VM: a pure CPU loop varies 4-9% between 100 ms windows, a
// relay's 100 ms slice 12-17%) that decides how long a run must be to tell 3% apart.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <numeric>
#include <vector>

namespace berth::bench {

// One target's measured units in a row (a request row's cycles, an archive row's rounds): what
// each unit moved (requests or MiB) and in how many seconds.
struct Samples {
  std::vector<double> amount, seconds;
  void add(double a, double s) {
    amount.push_back(a);
    seconds.push_back(s);
  }
  double rate() const { return sum(amount) / sum(seconds); }
  // The rate over units [from, to).
  double rate(std::size_t from, std::size_t to) const {
    double a = 0, s = 0;
    for (std::size_t i = from; i < to; ++i) a += amount[i], s += seconds[i];
    return a / s;
  }
  static double sum(const std::vector<double>& v) {
    return std::accumulate(v.begin(), v.end(), 0.0);
  }
};

// The half-width of a 95% interval around the ratio num.rate() / den.rate(), by batch means:
// the units (both targets ran in each, close in time) are cut into up to 10 consecutive
// batches, each batch gives the ratio of its two rates, and Student's t over those ratios says
// how far the ratio could still move with more units. Not a bound on what another run gives
// (a relay process's own luck, e.g. where the scheduler puts it, stays with it for the run).
inline double ratioHalfWidth(const Samples& num, const Samples& den) {
  // t(0.975) for 1..9 degrees of freedom.
  static constexpr double kT[] = {12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262};
  const std::size_t n = std::min(num.amount.size(), den.amount.size());
  const std::size_t batches = std::min<std::size_t>(10, n);
  if (batches < 2) return std::numeric_limits<double>::infinity();
  std::vector<double> ratios;
  for (std::size_t b = 0; b < batches; ++b) {
    const std::size_t from = n * b / batches, to = n * (b + 1) / batches;
    ratios.push_back(num.rate(from, to) / den.rate(from, to));
  }
  const double mean = Samples::sum(ratios) / static_cast<double>(batches);
  double square = 0;
  for (double r : ratios) square += (r - mean) * (r - mean);
  const double sd = std::sqrt(square / static_cast<double>(batches - 1));
  return kT[batches - 2] * sd / std::sqrt(static_cast<double>(batches));
}

}  // namespace berth::bench
