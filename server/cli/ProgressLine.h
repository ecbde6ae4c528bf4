#pragma once
// ProgressLine: how the CLI shows a download's progress (HttpsDownload's lines) on stderr: one
// line rewritten in place on a terminal, whole lines when stderr is a log or a pipe. Not
// thread-safe (one download at a time).
#include "vm/HttpsDownload.h"

namespace berth::cli {

class ProgressLine {
 public:
  // A progress callback writing to stderr as above.
  static vm::HttpsDownload::Progress toStderr();
};

}  // namespace berth::cli
