#include "server/cli/ServiceUnits.h"

namespace berth::cli {

std::string ServiceUnits::socketUnit() {
  return R"unit(# berth@.socket: written by berth (berth service unit socket); see man berth.
[Unit]
Description=berth profile %i: Docker API socket
Documentation=man:berth(1)

[Socket]
ListenStream=%h/.berth/%i/docker.sock
SocketMode=0600
DirectoryMode=0700
RemoveOnStop=yes

[Install]
WantedBy=sockets.target
)unit";
}

std::string ServiceUnits::serviceUnit(const std::string& berth_binary) {
  return R"unit(# berth@.service: written by berth (berth service unit service); see man berth.
[Unit]
Description=berth profile %i: Docker engine behind a Docker API socket
Documentation=man:berth(1)
Requires=berth@%i.socket
After=berth@%i.socket network.target

[Service]
Type=simple
Environment=BERTH_HOME=%h/.berth
ExecStart=)unit" +
         berth_binary + R"unit( daemon --profile %i
# The daemon stops the guest itself on SIGTERM (a machine shutdown of its containers).
KillMode=mixed
TimeoutStopSec=120

[Install]
Also=berth@%i.socket
)unit";
}

}  // namespace berth::cli
