#include "forwarding/CniHostports.h"

#include <algorithm>
#include <charconv>
#include <map>
#include <optional>
#include <tuple>

namespace berth::fwd {
namespace {

constexpr std::string_view kHostportChain = "CNI-HOSTPORT-DNAT";
constexpr std::string_view kContainerChainPrefix = "CNI-DN-";

// The words of one rule; a "quoted comment" with spaces is one word.
std::vector<std::string_view> words(std::string_view line) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < line.size()) {
    if (line[i] == ' ' || line[i] == '\t') {
      ++i;
      continue;
    }
    std::size_t end = i;
    if (line[i] == '"') {
      end = i + 1;
      while (end < line.size() && line[end] != '"') end += line[end] == '\\' ? 2 : 1;
      end = std::min(end + 1, line.size());
    } else {
      while (end < line.size() && line[end] != ' ' && line[end] != '\t') ++end;
    }
    out.push_back(line.substr(i, end - i));
    i = end;
  }
  return out;
}

// The value after option `name` in `rule`; nullopt when absent, negated (`! -d X`) or last.
std::optional<std::string_view> option(const std::vector<std::string_view>& rule,
                                       std::string_view name, bool& negated) {
  for (std::size_t i = 0; i < rule.size(); ++i) {
    if (rule[i] != name) continue;
    if (i > 0 && rule[i - 1] == "!") negated = true;
    if (i + 1 < rule.size()) return rule[i + 1];
  }
  return std::nullopt;
}

std::optional<std::uint16_t> port(std::string_view text) {
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value == 0 || value > 65535)
    return std::nullopt;
  return static_cast<std::uint16_t>(value);
}

// The mapping of one `-A CNI-DN-... -j DNAT` rule, or nullopt.
std::optional<CniHostport> mapping(const std::vector<std::string_view>& rule) {
  bool negated = false;
  const auto target = option(rule, "-j", negated);
  const auto to = option(rule, "--to-destination", negated);
  const auto protocol = option(rule, "-p", negated);
  const auto dport = option(rule, "--dport", negated);
  const auto destination = option(rule, "-d", negated);
  if (negated || target != "DNAT" || !to || !protocol || !dport) return std::nullopt;
  if (*protocol != "tcp" && *protocol != "udp" && *protocol != "sctp") return std::nullopt;
  const auto number = port(*dport);
  if (!number) return std::nullopt;
  CniHostport out{std::string(*protocol), *number, "", std::string(*to)};
  if (destination) {
    auto ip = *destination;
    if (const auto slash = ip.find('/'); slash != std::string_view::npos) {
      // A host IP is one address: a wider -d is no mapping portmap writes.
      if (ip.substr(slash) != "/32" && ip.substr(slash) != "/128") return std::nullopt;
      ip = ip.substr(0, slash);
    }
    if (ip.empty()) return std::nullopt;
    out.host_ip = std::string(ip);
  }
  return out;
}

}  // namespace

std::vector<CniHostport> CniHostports::parse(std::string_view iptables_save) {
  std::map<std::string_view, std::size_t> entered;  // chain CNI-HOSTPORT-DNAT jumps to -> order
  std::vector<std::pair<std::string_view, CniHostport>> found;
  while (!iptables_save.empty()) {
    const auto newline = iptables_save.find('\n');
    const auto line = iptables_save.substr(0, newline);
    iptables_save.remove_prefix(newline == std::string_view::npos ? iptables_save.size()
                                                                  : newline + 1);
    const auto rule = words(line);
    if (rule.size() < 2 || rule[0] != "-A") continue;
    bool negated = false;
    if (rule[1] == kHostportChain) {
      const auto target = option(rule, "-j", negated);
      if (target && target->starts_with(kContainerChainPrefix))
        entered.emplace(*target, entered.size());
    } else if (rule[1].starts_with(kContainerChainPrefix)) {
      if (auto m = mapping(rule)) found.emplace_back(rule[1], std::move(*m));
    }
  }
  // One host port maps to one place: the kernel takes the first chain CNI-HOSTPORT-DNAT jumps to
  // (and its first rule), so that rule's destination is the one reported.
  // (the chain's jump order, the rule's line order) -> the mapping
  std::vector<std::pair<std::pair<std::size_t, std::size_t>, CniHostport>> ranked;
  for (std::size_t line = 0; line < found.size(); ++line)
    if (const auto it = entered.find(found[line].first); it != entered.end())
      ranked.emplace_back(std::pair{it->second, line}, std::move(found[line].second));
  auto key = [](const CniHostport& m) { return std::tie(m.protocol, m.port, m.host_ip); };
  std::sort(ranked.begin(), ranked.end(), [&key](const auto& a, const auto& b) {
    return std::tuple_cat(key(a.second), std::tie(a.first)) <
           std::tuple_cat(key(b.second), std::tie(b.first));
  });
  std::vector<CniHostport> out;
  for (auto& [rank, m] : ranked)
    if (out.empty() || key(out.back()) != key(m)) out.push_back(std::move(m));
  return out;
}

}  // namespace berth::fwd
