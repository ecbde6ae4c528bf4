#pragma once
// ErrorBody: the JSON body of an error that berth itself answers, shaped like the engine's
// own errors (`{"message": "..."}`) so every client prints it as it prints dockerd's.
#include <string>
#include <string_view>

namespace berth::api {

std::string errorBody(std::string_view message);

}  // namespace berth::api
