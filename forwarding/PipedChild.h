#pragma once
// spawnPiped: ChildProcess::spawn with the child's stdout and stderr on a new pipe, for the
// guest readers that read a command's output asynchronously on a strand (GuestShellListeners,
// GuestCniHostports). Thread-safe.
#include "server/net/ChildProcess.h"

namespace berth::fwd {

// Starts `options` (its fds plus the pipe's write end as 1 and 2) and puts the pipe's read end
// (close-on-exec, the caller's to close) in `output`; throws net::ProcessError, leaving no fd
// open, when the pipe or the process cannot be made.
net::ChildProcess spawnPiped(net::SpawnOptions options, int& output);

}  // namespace berth::fwd
