#pragma once
// DockerSockLink: makes /var/run/docker.sock (`dockerSock: true`, `berth start --docker-sock`)
// a symlink to a profile's socket, for clients that ignore docker contexts (docker-py 5's
// from_env(), testcontainers, scripts). It never replaces what something else owns: a socket
// that accepts connections, or anything that is not a socket or a link. A dead socket or a
// dangling link is nobody's and is replaced. release() removes the path only while it is still
// this link. Root only. Blocking file calls; not thread-safe.
#include <string>

namespace berth::server {

class DockerSockLink {
 public:
  // `path` is /var/run/docker.sock unless BERTH_DOCKER_SOCK names another (tests).
  explicit DockerSockLink(std::string target);

  // Throws std::runtime_error with one line when the link cannot be made (not root, or the
  // path belongs to something else); changes nothing.
  void check() const;
  // check(), then makes the link.
  void claim() const;
  // Removes the path if it is still a link to the target.
  void release() const;
  const std::string& path() const { return path_; }

 private:
  bool ours() const;

  std::string target_;
  std::string path_;
};

}  // namespace berth::server
