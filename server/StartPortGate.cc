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
  // A restart starts a stopped container as a start does; of a running one it claims nothing
  // (its ports are forwarded already).
  return (route.kind == api::RouteKind::ContainerStart ||
          route.kind == api::RouteKind::ContainerRestart) &&
         !route.id.empty();
}

void StartPortGate::check(const api::Route& route, boost::asio::any_io_executor executor,
                          Done done) {
  // dockerd words a failed restart as "Cannot restart container NAME: <why>", NAME as asked.
  std::string prefix;
  if (route.kind == api::RouteKind::ContainerRestart)
    prefix = "Cannot restart container " + route.id + ": ";
  claimer_(route.id,
           [executor, prefix = std::move(prefix), done = std::move(done)](fwd::StartClaim claim) {
             boost::asio::post(executor, [done, prefix, claim = std::move(claim)]() mutable {
               if (!claim.refusal.empty())
                 return done(api::LocalReply{500, prefix + claim.refusal}, nullptr);
               std::unique_ptr<RequestGate::Pass> pass;
               if (claim.claim) pass = std::make_unique<ClaimPass>(std::move(claim.claim));
               done(std::nullopt, std::move(pass));
             });
           });
}

}  // namespace berth::server
