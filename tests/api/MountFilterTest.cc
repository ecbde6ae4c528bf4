#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "api/FilterChain.h"
#include "api/MountFilter.h"
#include "api/MountFilterFactory.h"
#include "tests/api/MountTestFs.h"

namespace berth::api {
namespace {

using Json = nlohmann::ordered_json;
using testing::testTranslator;
using Subject = MountFilter::Subject;

struct Outcome {
  std::optional<LocalReply> reply;
  std::string body;
};

Outcome request(Subject subject, std::string body) {
  MountFilter filter(testTranslator(), subject);
  EXPECT_TRUE(filter.wantsRequestBody());
  auto reply = filter.onRequestBody(body);
  return {reply, body};
}

Json createdBinds(const Json& binds) {
  auto out = request(Subject::ContainerCreate,
                     Json{{"Image", "bb"}, {"HostConfig", {{"Binds", binds}}}}.dump());
  EXPECT_FALSE(out.reply) << out.reply->message;
  return Json::parse(out.body)["HostConfig"]["Binds"];
}

std::string createError(const Json& host_config) {
  auto out =
      request(Subject::ContainerCreate, Json{{"Image", "bb"}, {"HostConfig", host_config}}.dump());
  EXPECT_TRUE(out.reply);
  if (!out.reply) return "";
  EXPECT_EQ(out.reply->status, 400);
  return out.reply->message;
}

bool contains(const std::string& s, std::string_view part) {
  return s.find(part) != std::string::npos;
}

TEST(MountFilterTest, RewritesBindSourcesKeepingEveryOption) {
  Json binds = createdBinds({
      "/home/me/proj:/src",
      "/home/me/proj/x:/x:ro,z",
      "/home/me/a/:/a:rw,Z,nocopy,rshared",
      "/home/me/b:/b:ro,rslave",
      "/home/me/c:/c:private",
      "/home/me/ro/d:/d:ro",
      "/srv/data/scratch/e:/e:Z",
  });
  EXPECT_EQ(binds, Json({
                       "/host/home/proj:/src",
                       "/host/home/proj/x:/x:ro,z",
                       "/host/home/a:/a:rw,Z,nocopy,rshared",
                       "/host/home/b:/b:ro,rslave",
                       "/host/home/c:/c:private",
                       "/host/ro/d:/d:ro",
                       "/scratch/e:/e:Z",
                   }));
}

TEST(MountFilterTest, LeavesVolumesAlone) {
  Json binds = {"/anon", "named:/data", "named:/data:ro,nocopy", "my_vol.1:/v", "v:/v:ro"};
  EXPECT_EQ(createdBinds(binds), binds);
}

TEST(MountFilterTest, RefusesUnsharedBindNamingTheFlag) {
  std::string e = createError({{"Binds", {"/home/me/ok:/ok", "/not/shared:/x"}}});
  EXPECT_TRUE(contains(e, "/not/shared is not shared")) << e;
  EXPECT_TRUE(contains(e, "--mount /not/shared:w")) << e;
  e = createError({{"Binds", {"/not/shared:/x:ro"}}});
  EXPECT_TRUE(contains(e, "--mount /not/shared ")) << e;
}

TEST(MountFilterTest, ReadOnlyShareRefusesWriteBind) {
  std::string e = createError({{"Binds", {"/home/me/ro/d:/d"}}});
  EXPECT_TRUE(contains(e, "read-only share /home/me/ro")) << e;
  e = createError({{"Binds", {"/srv/data/x:/x:rw,z"}}});
  EXPECT_TRUE(contains(e, "read-only share /srv/data")) << e;
  e = createError({{"Mounts", {{{"Type", "bind"}, {"Source", "/srv/data/x"}, {"Target", "/x"}}}}});
  EXPECT_TRUE(contains(e, "read-only share /srv/data")) << e;
}

TEST(MountFilterTest, RefusesRelativeAndWindowsSources) {
  EXPECT_TRUE(contains(createError({{"Binds", {"./data:/data"}}}), "'./data' is a relative"));
  EXPECT_TRUE(contains(createError({{"Binds", {"data/sub:/data"}}}), "relative"));
  EXPECT_TRUE(contains(createError({{"Binds", {"~/x:/x"}}}), "relative"));
  EXPECT_TRUE(contains(createError({{"Binds", {"C:\\Users\\me:/data"}}}), "Windows-style"));
  EXPECT_TRUE(contains(createError({{"Binds", {"c:/Users/me:/data:ro"}}}), "Windows-style"));
  EXPECT_TRUE(contains(createError({{"Binds", {"C:\\data"}}}), "Windows-style"));
  EXPECT_TRUE(
      contains(createError({{"Mounts", {{{"Type", "bind"}, {"Source", "rel/x"}}}}}), "relative"));
  EXPECT_TRUE(contains(
      createError({{"Mounts", {{{"Type", "bind"}, {"Source", "D:\\x"}, {"Target", "/x"}}}}}),
      "Windows-style"));
}

TEST(MountFilterTest, EscapesAreRefused) {
  EXPECT_TRUE(contains(createError({{"Binds", {"/home/me/../../etc:/etc2"}}}), "resolves to /etc"));
  EXPECT_TRUE(contains(createError({{"Binds", {"/home/me/link-out/shadow:/s:ro"}}}),
                       "resolves to /etc/shadow"));
  EXPECT_TRUE(contains(
      createError(
          {{"Mounts", {{{"Type", "bind"}, {"Source", "/home/me/rel-out"}, {"Target", "/e"}}}}}),
      "resolves to /etc"));
}

TEST(MountFilterTest, RewritesMounts) {
  Json mounts = {
      {{"Type", "bind"},
       {"Source", "/home/me/proj"},
       {"Target", "/src"},
       {"BindOptions", {{"Propagation", "rslave"}}},
       {"Consistency", "cached"}},
      {{"Type", "bind"}, {"Source", "/srv/data/x"}, {"Target", "/x"}, {"ReadOnly", true}},
      {{"Type", "volume"},
       {"Source", "v1"},
       {"Target", "/v1"},
       {"VolumeOptions",
        {{"NoCopy", true},
         {"DriverConfig",
          {{"Name", "local"},
           {"Options", {{"type", "none"}, {"o", "bind"}, {"device", "/home/me/vol"}}}}}}}},
      {{"Type", "volume"},
       {"Source", "v2"},
       {"Target", "/v2"},
       {"VolumeOptions",
        {{"DriverConfig", {{"Options", {{"o", "rbind,ro"}, {"device", "/srv/data/v"}}}}}}}},
      {{"Type", "volume"}, {"Source", "plain"}, {"Target", "/p"}},
      {{"Type", "volume"},
       {"Source", "nfs"},
       {"Target", "/n"},
       {"VolumeOptions",
        {{"DriverConfig",
          {{"Options", {{"type", "nfs"}, {"o", "addr=1.2.3.4"}, {"device", ":/export"}}}}}}}},
      {{"Type", "volume"},
       {"Source", "other"},
       {"Target", "/o"},
       {"VolumeOptions",
        {{"DriverConfig",
          {{"Name", "sshfs"}, {"Options", {{"o", "bind"}, {"device", "/not/shared"}}}}}}}},
      {{"Type", "tmpfs"}, {"Target", "/t"}},
  };
  auto out = request(Subject::ContainerCreate, Json{{"HostConfig", {{"Mounts", mounts}}}}.dump());
  ASSERT_FALSE(out.reply) << out.reply->message;
  Json expected = mounts;
  expected[0]["Source"] = "/host/home/proj";
  expected[1]["Source"] = "/srv/data/x";
  expected[2]["VolumeOptions"]["DriverConfig"]["Options"]["device"] = "/host/home/vol";
  EXPECT_EQ(Json::parse(out.body)["HostConfig"]["Mounts"], expected);
  // A writable bind volume in a read-only share is refused.
  Json rw_volume = mounts[3];
  rw_volume["VolumeOptions"]["DriverConfig"]["Options"]["o"] = "bind";
  EXPECT_TRUE(contains(createError({{"Mounts", {rw_volume}}}), "read-only share /srv/data"));
  rw_volume["ReadOnly"] = true;
  EXPECT_FALSE(
      request(Subject::ContainerCreate, Json{{"HostConfig", {{"Mounts", {rw_volume}}}}}.dump())
          .reply);
}

TEST(MountFilterTest, KeepsUnknownFieldsAndKeyOrder) {
  const std::string body =
      R"({"Zeta":1,"Image":"bb","HostConfig":{"Memory":0,"Binds":["/home/me/p:/p"],)"
      R"("FutureField":{"deep":[1,2.5,null,true,"\u00e9"]}},"Labels":{"b":"2","a":"1"},)"
      R"("Alpha":{"x":18446744073709551615}})";
  auto out = request(Subject::ContainerCreate, body);
  ASSERT_FALSE(out.reply);
  std::string expected = body;
  expected.replace(expected.find("/home/me/p:"), 11, "/host/home/p:");
  expected.replace(expected.find("\\u00e9"), 6, "\xc3\xa9");  // same string, UTF-8 spelled
  EXPECT_EQ(out.body, expected);
}

TEST(MountFilterTest, UntouchedBodyKeepsItsBytes) {
  const std::string body = "{ \"Image\" : \"bb\",\n \"HostConfig\": {\"Binds\": [\"v:/v\"]} }\n";
  auto out = request(Subject::ContainerCreate, body);
  EXPECT_FALSE(out.reply) << out.reply->message;
  EXPECT_EQ(out.body, body);
}

TEST(MountFilterTest, NonJsonBodyPassesUnchanged) {
  for (std::string body : {"not json", "", "[1,2", "\"just a string\"", "[]", "null"}) {
    auto out = request(Subject::ContainerCreate, body);
    EXPECT_FALSE(out.reply) << body;
    EXPECT_EQ(out.body, body);
  }
  Json odd = {{"HostConfig", {{"Binds", "not-a-list"}, {"Mounts", {1, "x", nullptr}}}}};
  auto out = request(Subject::ContainerCreate, odd.dump());
  EXPECT_FALSE(out.reply);
  EXPECT_EQ(out.body, odd.dump());
}

TEST(MountFilterTest, DeepNestingIsRefused) {
  std::string body =
      "{\"HostConfig\":{\"Binds\":[\"/not/shared:/x\"]},\"X\":" + std::string(2000, '[') +
      std::string(2000, ']') + "}";
  auto out = request(Subject::ContainerCreate, body);
  ASSERT_TRUE(out.reply);
  EXPECT_EQ(out.reply->status, 400);
  EXPECT_TRUE(contains(out.reply->message, "deeper than 512"));
  // Brackets inside strings do not count.
  std::string quoted = "{\"Image\":\"" + std::string(2000, '[') + "\"}";
  EXPECT_FALSE(request(Subject::ContainerCreate, quoted).reply);
}

TEST(MountFilterTest, RewritesVolumeCreate) {
  Json body = {{"Name", "v"},
               {"Driver", "local"},
               {"DriverOpts", {{"type", "none"}, {"o", "bind"}, {"device", "/home/me/vol"}}},
               {"Labels", {{"k", "v"}}}};
  auto out = request(Subject::VolumeCreate, body.dump());
  ASSERT_FALSE(out.reply);
  Json expected = body;
  expected["DriverOpts"]["device"] = "/host/home/vol";
  EXPECT_EQ(Json::parse(out.body), expected);

  Json no_driver = {{"Name", "v"}, {"DriverOpts", {{"o", "bind"}, {"device", "/tmp/s/x"}}}};
  EXPECT_EQ(
      Json::parse(request(Subject::VolumeCreate, no_driver.dump()).body)["DriverOpts"]["device"],
      "/gtmp/x");

  Json unshared = {{"Name", "v"}, {"DriverOpts", {{"o", "bind"}, {"device", "/not/shared"}}}};
  out = request(Subject::VolumeCreate, unshared.dump());
  ASSERT_TRUE(out.reply);
  EXPECT_EQ(out.reply->status, 400);
  EXPECT_TRUE(contains(out.reply->message, "--mount /not/shared:w"));

  // Other drivers, non-bind options and plain volumes pass untouched.
  for (const Json& other :
       {Json{{"Name", "a"},
             {"Driver", "nfs"},
             {"DriverOpts", {{"o", "bind"}, {"device", "/not/shared"}}}},
        Json{{"Name", "b"}, {"DriverOpts", {{"type", "tmpfs"}, {"device", "tmpfs"}}}},
        Json{{"Name", "c"}}, Json::object()}) {
    out = request(Subject::VolumeCreate, other.dump());
    EXPECT_FALSE(out.reply) << other.dump();
    EXPECT_EQ(out.body, other.dump());
  }
}

TEST(MountFilterTest, MapsInspectAndListBack) {
  MountFilter inspect(testTranslator(), Subject::ContainerInspect);
  EXPECT_FALSE(inspect.wantsRequestBody());
  EXPECT_TRUE(inspect.wantsResponseBody(200));
  EXPECT_FALSE(inspect.wantsResponseBody(404));
  Json c = {
      {"Id", "abc"},
      {"HostConfig",
       {{"Binds", {"/host/home/proj:/src:ro", "named:/n", "/elsewhere:/e"}},
        {"Mounts",
         {{{"Type", "bind"}, {"Source", "/host/ro/x"}, {"Target", "/x"}},
          {{"Type", "volume"},
           {"Source", "v"},
           {"VolumeOptions",
            {{"DriverConfig", {{"Options", {{"o", "bind"}, {"device", "/gtmp/v"}}}}}}}}}}}},
      {"Mounts",
       {{{"Type", "bind"}, {"Source", "/host/home/proj"}, {"Destination", "/src"}},
        {{"Type", "volume"}, {"Name", "n"}, {"Source", "/var/lib/docker/volumes/n/_data"}}}},
  };
  std::string body = c.dump();
  inspect.onResponseBody(200, body);
  Json expected = c;
  expected["HostConfig"]["Binds"][0] = "/home/me/proj:/src:ro";
  expected["HostConfig"]["Mounts"][0]["Source"] = "/home/me/ro/x";
  expected["HostConfig"]["Mounts"][1]["VolumeOptions"]["DriverConfig"]["Options"]["device"] =
      "/private/tmp/s/v";
  expected["Mounts"][0]["Source"] = "/home/me/proj";
  EXPECT_EQ(Json::parse(body), expected);

  MountFilter list(testTranslator(), Subject::ContainerList);
  Json containers = {{{"Id", "a"},
                      {"HostConfig", {{"NetworkMode", "default"}}},
                      {"Mounts", {{{"Type", "bind"}, {"Source", "/scratch/f"}}}}},
                     {{"Id", "b"}, {"Mounts", Json::array()}}};
  body = containers.dump();
  list.onResponseBody(200, body);
  EXPECT_EQ(Json::parse(body)[0]["Mounts"][0]["Source"], "/srv/data/scratch/f");
  EXPECT_EQ(Json::parse(body)[1], containers[1]);

  std::string not_json = "oops";
  list.onResponseBody(200, not_json);
  EXPECT_EQ(not_json, "oops");
}

TEST(MountFilterTest, MapsVolumeDevicesBack) {
  Json bound = {{"Name", "b"},
                {"Driver", "local"},
                {"Mountpoint", "/var/lib/docker/volumes/b/_data"},
                {"Options", {{"type", "none"}, {"o", "bind"}, {"device", "/host/home/vol"}}}};
  Json plain = {{"Name", "p"}, {"Driver", "local"}, {"Options", nullptr}};
  Json other = {
      {"Name", "o"}, {"Driver", "nfs"}, {"Options", {{"o", "bind"}, {"device", "/host/home/vol"}}}};
  MountFilter inspect(testTranslator(), Subject::VolumeInspect);
  EXPECT_FALSE(inspect.wantsRequestBody());
  ASSERT_TRUE(inspect.wantsResponseBody(200));
  std::string body = bound.dump();
  inspect.onResponseBody(200, body);
  Json expected = bound;
  expected["Options"]["device"] = "/home/me/vol";
  EXPECT_EQ(Json::parse(body), expected);

  MountFilter list(testTranslator(), Subject::VolumeList);
  Json volumes = {{"Volumes", {bound, plain, other}}, {"Warnings", nullptr}};
  body = volumes.dump();
  list.onResponseBody(200, body);
  Json listed = Json::parse(body);
  EXPECT_EQ(listed["Volumes"][0], expected);
  EXPECT_EQ(listed["Volumes"][1], plain);
  EXPECT_EQ(listed["Volumes"][2], other);
}

TEST(MountFilterTest, FactoryRegistersByNameForItsRoutesOnly) {
  FilterChainFactory chains;
  chains.add(std::string(MountFilterFactory::kName),
             std::make_shared<MountFilterFactory>(testTranslator()));
  EXPECT_EQ(chains.names(), std::vector<std::string>{"mounts"});
  auto chain_for = [&](std::string_view method, std::string_view target) {
    Route route = RouteMatcher::match(method, target);
    return chains.create(RequestHead{method, target, route});
  };
  EXPECT_FALSE(chain_for("POST", "/v1.41/containers/create?name=x").empty());
  EXPECT_FALSE(chain_for("POST", "/volumes/create").empty());
  EXPECT_FALSE(chain_for("GET", "/v1.43/containers/abc/json").empty());
  EXPECT_FALSE(chain_for("GET", "/containers/json?all=1").empty());
  EXPECT_TRUE(chain_for("POST", "/containers/abc/start").empty());
  EXPECT_FALSE(chain_for("GET", "/volumes").empty());
  EXPECT_FALSE(chain_for("GET", "/v1.41/volumes/v1").empty());
  EXPECT_TRUE(chain_for("DELETE", "/volumes/v1").empty());
  EXPECT_TRUE(chain_for("POST", "/volumes/prune").empty());
  EXPECT_TRUE(chain_for("DELETE", "/containers/abc").empty());

  auto chain = chain_for("POST", "/v1.41/containers/create");
  ASSERT_TRUE(chain.wantsRequestBody());
  std::string body = R"({"HostConfig":{"Binds":["/home/me/x:/x"]}})";
  EXPECT_FALSE(chain.onRequestBody(body));
  EXPECT_EQ(body, R"({"HostConfig":{"Binds":["/host/home/x:/x"]}})");
}

}  // namespace
}  // namespace berth::api
