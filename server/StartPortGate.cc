#include "server/StartPortGate.h"

#include <boost/asio/post.hpp>

namespace berth::server {
namespace {

class ClaimPass final : public RequestGate::Pass {
 public:
  explicit ClaimPass(std::shared_ptr<fwd::PortClaim> claim) : claim_(std::move(claim)) {}
  // 204 started, 304 was running already; anything else did not start it.
  void onResponse(int status) override { claim_->finish(status == 204 || status == 304); }

 private:
  std::shared_ptr<fwd::PortClaim> claim_;
};

}  // namespace

bool StartPortGate::concerns(const api::Route& route) const {
  return route.kind == api::RouteKind::ContainerStart && !route.id.empty();
}

void StartPortGate::check(const api::Route& route, boost::asio::any_io_executor executor,
                          Done done) {
  claimer_(route.id, [executor, done = std::move(done)](fwd::StartClaim claim) {
    boost::asio::post(executor, [done, claim = std::move(claim)]() mutable {
      if (!claim.refusal.empty()) return done(api::LocalReply{500, claim.refusal}, nullptr);
      std::unique_ptr<RequestGate::Pass> pass;
      if (claim.claim) pass = std::make_unique<ClaimPass>(std::move(claim.claim));
      done(std::nullopt, std::move(pass));
    });
  });
}

}  // namespace berth::server
