#include "vm/GuestFileCopy.h"

#include <filesystem>

#include "server/net/ChildProcess.h"
#include "server/net/Digest.h"
#include "server/net/Files.h"
#include "vm/Driver.h"

namespace berth::vm {
namespace {

// $1 the guest path, $2 the size, $3 the SHA-256. Prints "kept" or "copied".
constexpr const char* kInstall = R"SH(t=$1; size=$2; sum=$3
sha() { sha256sum < "$1" | cut -d' ' -f1; }
if [ -f "$t" ] && [ "$(stat -c %s "$t")" = "$size" ] && [ "$(sha "$t")" = "$sum" ]; then
  chmod 0755 "$t" && echo kept && exit 0
fi
mkdir -p "$(dirname "$t")" && cat > "$t.berth-new" || exit 1
if [ "$(sha "$t.berth-new")" != "$sum" ]; then
  rm -f "$t.berth-new"; echo "the copy's SHA-256 differs from the host file's" >&2; exit 1
fi
chmod 0755 "$t.berth-new" && mv -f "$t.berth-new" "$t" && echo copied)SH";

}  // namespace

GuestFileCopy::Outcome GuestFileCopy::install(const Exec& exec, const std::string& host_file,
                                              const std::string& guest_path,
                                              std::chrono::milliseconds timeout) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(host_file, ec);
  if (ec) throw DriverError("cannot read " + host_file + ": " + ec.message());
  const std::string sum = net::Digest::sha256Hex(net::Files::readOr(host_file));
  const auto result = net::ChildProcess::run(
      exec({"sh", "-c", kInstall, "sh", guest_path, std::to_string(size), sum}), timeout,
      host_file);
  const auto last = result.output.substr(result.output.find_last_of('\n') + 1);
  if (result.exit_code == 0 && last == "kept") return Outcome::Kept;
  if (result.exit_code == 0 && last == "copied") return Outcome::Copied;
  throw DriverError("cannot copy " + host_file + " to the guest's " + guest_path + ": " +
                    (result.timed_out
                         ? "no answer within " + std::to_string(timeout.count() / 1000) + "s"
                         : result.output));
}

void GuestFileCopy::remove(const Exec& exec, const std::string& guest_path,
                           std::chrono::milliseconds timeout) {
  const auto result = net::ChildProcess::run(exec({"rm", "-f", guest_path}), timeout);
  if (result.exit_code != 0)
    throw DriverError("cannot remove the guest's " + guest_path + ": " + result.output);
}

}  // namespace berth::vm
