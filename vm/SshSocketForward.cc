#include "vm/SshSocketForward.h"

#include <unistd.h>

#include <chrono>

namespace berth::vm {

SshSocketForward::SshSocketForward(std::string local, std::string remote, std::string log)
    : local_(std::move(local)), remote_(std::move(remote)), log_(std::move(log)) {}

bool SshSocketForward::ensure(const std::vector<std::string>& ssh) {
  if (ssh_ && ssh_->running()) return ::access(local_.c_str(), F_OK) == 0;
  ssh_.reset();  // ended (the guest's sshd was not up yet, or the guest went away): again
  std::vector<std::string> argv(ssh.begin(), ssh.end() - 1);
  // The socket appears once ssh is in: a stale one of an earlier guest is replaced; a forward
  // that cannot be set up ends ssh instead of leaving a session that forwards nothing.
  argv.insert(argv.end(), {"-N", "-o", "ExitOnForwardFailure=yes", "-o",
                           "StreamLocalBindUnlink=yes", "-o", "ServerAliveInterval=15"});
  if (remote_.empty())
    argv.insert(argv.end(), {"-D", local_});
  else
    argv.insert(argv.end(), {"-L", local_ + ":" + remote_});
  argv.push_back(ssh.back());
  ::unlink(local_.c_str());
  net::SpawnOptions spawn;
  spawn.argv = std::move(argv);
  spawn.output = log_;
  spawn.new_session = true;
  ssh_ = net::ChildProcess::spawn(spawn);
  return false;
}

void SshSocketForward::stop() {
  if (ssh_) ssh_->stop(std::chrono::seconds(2));
  ssh_.reset();
  ::unlink(local_.c_str());
}

}  // namespace berth::vm
