#include "api/ErrorBody.h"

#include <nlohmann/json.hpp>

namespace berth::api {

std::string errorBody(std::string_view message) {
  return nlohmann::json{{"message", std::string(message)}}.dump(
      -1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace berth::api
