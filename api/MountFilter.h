#pragma once
// MountFilter: the "mounts" filter. Rewrites the host paths of bind mounts in
// `POST /containers/create` (HostConfig.Binds, HostConfig.Mounts[] of Type bind, and Type
// volume with local `o=bind,device=PATH`) and `POST /volumes/create` to guest paths, answering
// 400 for a path under no share; maps guest paths back to host paths in
// `GET /containers/{id}/json`, `GET /containers/json`, `GET /volumes/{name}` and `GET /volumes`.
// Edits the JSON in place, so fields it does not know survive; a body that is not JSON passes
// unchanged for the engine to reject. One filter per request, used on one strand: not thread-safe;
// no I/O, no exceptions out.
#include <memory>

#include "api/Filter.h"
#include "api/MountTranslator.h"

namespace berth::api {

class MountFilter : public PassThroughFilter {
 public:
  // Bodies nesting JSON deeper than this are refused (400) rather than parsed: Docker's own
  // requests nest a handful of levels, and deep nesting only serves to exhaust a stack.
  static constexpr int kMaxDepth = 512;

  // The requests this filter knows (MountFilterFactory picks one from the route).
  enum class Subject {
    ContainerCreate,
    VolumeCreate,
    ContainerInspect,
    ContainerList,
    VolumeInspect,
    VolumeList
  };

  MountFilter(std::shared_ptr<const MountTranslator> translator, Subject subject);

  bool wantsRequestBody() const override;
  std::optional<LocalReply> onRequestBody(std::string& body) override;
  bool wantsResponseBody(int status) const override;
  void onResponseBody(int status, std::string& body) override;

 private:
  std::shared_ptr<const MountTranslator> translator_;
  Subject subject_;
};

}  // namespace berth::api
