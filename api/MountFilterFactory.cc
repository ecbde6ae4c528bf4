#include "api/MountFilterFactory.h"

#include "api/MountFilter.h"

namespace berth::api {

std::unique_ptr<Filter> MountFilterFactory::create(const RequestHead& head) const {
  switch (head.route.kind) {
    case RouteKind::ContainerCreate:
    case RouteKind::VolumeCreate:
    case RouteKind::ContainerInspect:
    case RouteKind::ContainerList:
      return std::make_unique<MountFilter>(translator_, head.route.kind);
    default:
      return nullptr;
  }
}

}  // namespace berth::api
