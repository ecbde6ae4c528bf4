#include <gtest/gtest.h>

#include <set>

#include "forwarding/PortTable.h"

namespace berth::fwd {
namespace {

// Records which host listeners are open; refuses the keys in `taken` like a busy port.
class FakeFactory final : public ListenerFactory {
 public:
  struct FakeListener final : Listener {
    FakeListener(FakeFactory& f, std::string k) : factory(f), key(std::move(k)) {
      factory.open_keys.insert(key);
    }
    ~FakeListener() override { factory.open_keys.erase(key); }
    FakeFactory& factory;
    std::string key;
  };

  std::unique_ptr<Listener> open(const ForwardSpec& spec, std::string& error) override {
    std::string key = spec.proto + " " + spec.hostAddress();
    if (taken.count(key)) {
      error = "Address already in use";
      return nullptr;
    }
    if (open_keys.count(key)) {
      error = "opened twice";
      return nullptr;
    }
    return std::make_unique<FakeListener>(*this, key);
  }

  std::set<std::string> open_keys;
  std::set<std::string> taken;
};

api::PublishedPort port(std::string proto, std::string ip, std::uint16_t host,
                        std::string id = "c1") {
  std::string name = "name-" + id;
  return {std::move(proto), std::move(ip), host, 80, std::move(id), std::move(name)};
}

TEST(ForwardSpecTest, LoopbackBindsBothFamiliesOncePerPort) {
  auto specs = planForwards(
      {port("tcp", "0.0.0.0", 18080), port("tcp", "::", 18080), port("udp", "127.0.0.1", 18081)},
      {});
  ASSERT_EQ(specs.size(), 4u);
  std::set<std::string> got;
  for (const auto& s : specs) got.insert(s.proto + " " + s.hostAddress());
  EXPECT_EQ(got, (std::set<std::string>{"tcp 127.0.0.1:18080", "tcp [::1]:18080",
                                        "udp 127.0.0.1:18081", "udp [::1]:18081"}));
  for (const auto& s : specs) EXPECT_EQ(s.guest_port, s.host_port);
  // Only the engine's loopback HostIp marks a port reachable inside the guest alone.
  for (const auto& s : specs) EXPECT_EQ(s.guest_loopback, s.proto == "udp" ? "127.0.0.1" : "");
  EXPECT_EQ(planForwards({port("tcp", "::1", 18090)}, {})[0].guest_loopback, "::1");
}

TEST(ForwardSpecTest, MirrorHonoursHostIpAndOptionsFilter) {
  PlanOptions options;
  options.bind = BindMode::Mirror;
  options.udp = false;
  options.ipv6 = false;
  auto specs = planForwards(
      {port("tcp", "0.0.0.0", 18080), port("tcp", "::", 18080), port("tcp", "10.1.2.3", 18082),
       port("udp", "0.0.0.0", 18081), port("tcp", "", 18083)},
      options);
  std::set<std::string> got;
  for (const auto& s : specs) got.insert(s.proto + " " + s.hostAddress());
  EXPECT_EQ(
      got, (std::set<std::string>{"tcp 0.0.0.0:18080", "tcp 10.1.2.3:18082", "tcp 0.0.0.0:18083"}));
}

TEST(PortTableTest, ReconcileOpensAndClosesTheDifference) {
  FakeFactory factory;
  PortTable table(factory);
  auto change = table.reconcile(planForwards({port("tcp", "0.0.0.0", 18080)}, {}));
  EXPECT_EQ(change.opened, 2u);
  EXPECT_EQ(factory.open_keys.size(), 2u);

  // Same wanted set: nothing moves.
  change = table.reconcile(planForwards({port("tcp", "0.0.0.0", 18080)}, {}));
  EXPECT_EQ(change.opened + change.closed, 0u);

  change = table.reconcile(planForwards({port("udp", "0.0.0.0", 18081, "c2")}, {}));
  EXPECT_EQ(change.closed, 2u);
  EXPECT_EQ(change.opened, 2u);
  EXPECT_EQ(factory.open_keys, (std::set<std::string>{"udp 127.0.0.1:18081", "udp [::1]:18081"}));
  EXPECT_EQ(table.active().size(), 2u);

  EXPECT_EQ(table.reconcile({}).closed, 2u);
  EXPECT_TRUE(factory.open_keys.empty());
}

TEST(PortTableTest, PortPassedToAnotherContainerIsReopenedForIt) {
  FakeFactory factory;
  PortTable table(factory);
  table.reconcile(planForwards({port("tcp", "0.0.0.0", 18080, "old")}, {}));
  auto change = table.reconcile(planForwards({port("tcp", "0.0.0.0", 18080, "new")}, {}));
  EXPECT_EQ(change.closed, 2u);
  EXPECT_EQ(change.opened, 2u);
  for (const auto& spec : table.active()) EXPECT_EQ(spec.container_id, "new");
}

TEST(PortTableTest, TakenPortIsAConflictRetriedOnTheNextReconcile) {
  FakeFactory factory;
  factory.taken.insert("tcp 127.0.0.1:18080");
  PortTable table(factory);
  auto wanted = planForwards({port("tcp", "0.0.0.0", 18080)}, {});
  auto change = table.reconcile(wanted);
  EXPECT_EQ(change.opened, 1u);
  EXPECT_EQ(change.conflicts, 1u);
  ASSERT_EQ(table.conflicts().size(), 1u);
  EXPECT_EQ(table.conflicts()[0].spec.container_id, "c1");
  EXPECT_EQ(table.conflicts()[0].error, "Address already in use");

  // A retry that fails the same way is no news (the forwarder retries every second).
  change = table.reconcile(wanted);
  EXPECT_EQ(change.opened, 0u);
  EXPECT_EQ(change.conflicts, 0u);
  EXPECT_EQ(table.conflicts().size(), 1u);

  factory.taken.clear();
  change = table.reconcile(wanted);
  EXPECT_EQ(change.opened, 1u);
  EXPECT_EQ(change.conflicts, 1u);  // one is gone
  EXPECT_TRUE(table.conflicts().empty());
  EXPECT_EQ(factory.open_keys.size(), 2u);
}

// A factory that fails late (a driver's opener, on its worker thread) fails again at every
// retry, since its open() succeeds at once: the failure is logged once, not every second.
TEST(PortTableTest, ALateFailureRetriedIsLoggedOnce) {
  FakeFactory factory;
  PortTable table(factory);
  PlanOptions v4_only;
  v4_only.ipv6 = false;
  auto wanted = planForwards({port("tcp", "0.0.0.0", 18080)}, v4_only);
  ::testing::internal::CaptureStderr();
  for (int retry = 0; retry < 3; ++retry) {
    table.reconcile(wanted);
    ASSERT_TRUE(table.fail(wanted[0], "QMP: port taken"));
    EXPECT_EQ(table.conflicts().size(), 1u);
  }
  table.reconcile(wanted);
  EXPECT_TRUE(table.fail(wanted[0], "another reason"));  // news: logged
  table.reconcile({});                                   // no longer wanted: forgotten
  table.reconcile(wanted);
  EXPECT_TRUE(table.fail(wanted[0], "another reason"));  // wanted again: logged again
  const std::string log = ::testing::internal::GetCapturedStderr();
  auto count = [&log](const std::string& what) {
    std::size_t n = 0;
    for (auto at = log.find(what); at != std::string::npos; at = log.find(what, at + 1)) ++n;
    return n;
  };
  EXPECT_EQ(count("cannot open tcp 127.0.0.1:18080 for name-c1: QMP: port taken"), 1u) << log;
  EXPECT_EQ(count("cannot open tcp 127.0.0.1:18080 for name-c1: another reason"), 2u) << log;
}

TEST(PortTableTest, CloseContainerClosesOnlyItsListeners) {
  FakeFactory factory;
  PortTable table(factory);
  table.reconcile(
      planForwards({port("tcp", "0.0.0.0", 18080, "a"), port("tcp", "0.0.0.0", 18081, "b")}, {}));
  EXPECT_EQ(table.closeContainer("a"), 2u);
  EXPECT_EQ(factory.open_keys, (std::set<std::string>{"tcp 127.0.0.1:18081", "tcp [::1]:18081"}));
  EXPECT_EQ(table.closeContainer("a"), 0u);
  EXPECT_EQ(table.closeAll(), 2u);
  EXPECT_TRUE(factory.open_keys.empty());
}

}  // namespace
}  // namespace berth::fwd
