#pragma once
// RestartPolicy: which containers come back by themselves when their engine restarts (an
// engine update, a machine shutdown): those whose HostConfig.RestartPolicy is `always` or
// `unless-stopped`, read from the engine's own `GET /containers/{id}/json`. Pure functions, no
// I/O; a malformed body reads as "no", never throws.
#include <nlohmann/json_fwd.hpp>

namespace berth::api {

// True when the inspected container's policy restarts it when the engine starts.
bool comesBackAfterEngineRestart(const nlohmann::json& inspect);
// True when the inspect says the container runs now (State.Running).
bool runningNow(const nlohmann::json& inspect);

}  // namespace berth::api
