#include "api/MountFilterFactory.h"

#include "api/MountFilter.h"
#include "api/PathSegments.h"

namespace berth::api {

namespace {

std::optional<MountFilter::Subject> subjectOf(const RequestHead& head) {
  using Subject = MountFilter::Subject;
  switch (head.route.kind) {
    case RouteKind::ContainerCreate:
      return Subject::ContainerCreate;
    case RouteKind::VolumeCreate:
      return Subject::VolumeCreate;
    case RouteKind::ContainerInspect:
      return Subject::ContainerInspect;
    case RouteKind::ContainerList:
      return Subject::ContainerList;
    default:
      break;
  }
  // Volume reads have no route kind of their own: GET /volumes and GET /volumes/{name}.
  if (head.method != "GET") return std::nullopt;
  auto segments = pathSegments(head.route.path);
  if (segments.empty() || segments[0] != "volumes") return std::nullopt;
  if (segments.size() == 1) return Subject::VolumeList;
  if (segments.size() == 2) return Subject::VolumeInspect;
  return std::nullopt;
}

}  // namespace

std::unique_ptr<Filter> MountFilterFactory::create(const RequestHead& head) const {
  auto subject = subjectOf(head);
  if (!subject) return nullptr;
  return std::make_unique<MountFilter>(translator_, *subject);
}

}  // namespace berth::api
