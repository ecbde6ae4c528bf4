#include "forwarding/GuestWatchScript.h"

namespace berth::fwd {
namespace {

std::string build(bool cni_hostports) {
  // Under TCG every fork and exec costs a guest dearly: the socket part runs none. `read` splits
  // a row into its first fields (the slot number is not kept: it changes whenever any socket
  // comes or goes); `read -t 1` on a pipe nobody writes to is the one-second sleep (`sleep 1`
  // only if that fails). A write to a closed ssh channel ends the loop, so it dies with its
  // session. The nat part is one exec a round: iptables-save is the one reader of portmap's rules
  // that agrees with it on both backends (nft and legacy). Only the CNI chains' rules are kept:
  // the rest (comments with a date, legacy counters) changes without a mapping changing.
  std::string s = "exec 3<> <(:); p=; q=; x=; ";
  if (cni_hostports) s += "command -v iptables-save >/dev/null && x=1; ";
  s += "while :; do ";
  if (cni_hostports)
    s += "if [ -n \"$x\" ] && o=$(iptables-save -t nat 2>/dev/null); then "
         "n=; "
         "while IFS= read -r l; do [[ $l == '-A CNI-'* ]] && n+=\"$l\"$'\\n'; done <<<\"$o\"; "
         "if [ \"$n\" != \"$q\" ]; then printf '%s" +
         std::string(GuestWatchScript::kEndOfNat) +
         "\\n' \"$n\" || exit 0; q=$n; fi; "
         "fi; ";
  s += "t=; "
       "for f in /proc/net/tcp /proc/net/tcp6; do "
       "[ -r $f ] || continue; "
       "while read -r sl local remote st rest; do "
       "[ \"$st\" = 0A ] && t=\"${t}0: $local $remote $st\"$'\\n'; "
       "done <$f; "
       "done; "
       "if [ \"$t\" != \"$p\" ]; then printf '%s" +
       std::string(GuestWatchScript::kEndOfTable) +
       "\\n' \"$t\" || exit 0; p=$t; fi; "
       "read -t 1 -u 3; [ $? -gt 128 ] || sleep 1; "
       "done";
  return s;
}

}  // namespace

const std::string& GuestWatchScript::script(bool cni_hostports) {
  static const std::string kSockets = build(false);
  static const std::string kWithNat = build(true);
  return cni_hostports ? kWithNat : kSockets;
}

}  // namespace berth::fwd
