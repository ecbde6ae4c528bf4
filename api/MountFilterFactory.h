#pragma once
// MountFilterFactory: makes a MountFilter for the routes that carry bind-mount paths
// (container create/inspect/list, volume create) and nothing for the others. Registered in a
// FilterChainFactory under kName. Immutable; safe to share across threads.
#include <memory>
#include <string_view>

#include "api/Filter.h"
#include "api/MountTranslator.h"

namespace berth::api {

class MountFilterFactory : public FilterFactory {
 public:
  static constexpr std::string_view kName = "mounts";

  explicit MountFilterFactory(std::shared_ptr<const MountTranslator> translator)
      : translator_(std::move(translator)) {}

  std::unique_ptr<Filter> create(const RequestHead& head) const override;

 private:
  std::shared_ptr<const MountTranslator> translator_;
};

}  // namespace berth::api
