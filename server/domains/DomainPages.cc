#include "server/domains/DomainPages.h"

namespace berth::server {
namespace {

const char* reason(int status) {
  switch (status) {
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    default:
      return "Error";
  }
}

std::string code(const std::string& text) {
  return "<code>" + DomainPages::escape(text) + "</code>";
}

// How names are formed, for every page that has to explain it.
std::string howNamesWork(const std::string& profile) {
  const std::string p = profile.empty() ? "PROFILE" : profile;
  return "<p>Names are " + code("<container>." + p + std::string(DomainName::kSuffix)) +
         " (a running container's name) and " +
         code("<service>.<project>." + p + std::string(DomainName::kSuffix)) +
         " (docker compose). The request goes to the container's " + code(NameTable::kPortLabel) +
         " label, else to its only exposed TCP port; no port needs to be published.</p>";
}

}  // namespace

std::string DomainPages::escape(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string DomainPages::page(int status, const std::string& title, const std::string& body_html) {
  const std::string body =
      "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>" + escape(title) +
      "</title></head>\n<body style=\"font-family:sans-serif;max-width:48em;margin:2em "
      "auto\">\n<h1>" +
      escape(title) + "</h1>\n" + body_html + "\n<p><small>berth</small></p></body></html>\n";
  return "HTTP/1.1 " + std::to_string(status) + " " + reason(status) +
         "\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: " +
         std::to_string(body.size()) +
         "\r\nCache-Control: no-store\r\nX-Berth-Domains: 1\r\nConnection: close\r\n\r\n" + body;
}

std::string DomainPages::unknownName(const std::string& host, const std::string& profile,
                                     const std::vector<std::string>& names) {
  std::string html = "<p>" + code(host) + " names no running container of profile " +
                     code(profile) + ".</p>\n" + howNamesWork(profile) + "\n";
  if (names.empty()) {
    html += "<p>No running container has a name here yet.</p>";
  } else {
    html += "<p>Running now:</p>\n<ul>\n";
    for (const auto& name : names) {
      const std::string full = DomainName::hostFor(name, profile);
      html += "<li><a href=\"http://" + escape(full) + "/\">" + escape(full) + "</a></li>\n";
    }
    html += "</ul>";
  }
  return page(404, "No container named " + host, html);
}

std::string DomainPages::cannotServe(const std::string& host, const NameTable::Lookup& lookup) {
  const NameTable::Container& c = *lookup.container;
  const std::string label = NameTable::kPortLabel;
  std::string ports;
  for (const int port : c.ports) ports += (ports.empty() ? "" : ", ") + std::to_string(port);
  std::string html;
  switch (lookup.outcome) {
    case NameTable::Outcome::SeveralPorts:
      html = "<p>Container " + code(c.name) + " exposes several TCP ports (" + escape(ports) +
             "), so " + code(host) +
             " does not know which one serves HTTP.</p>\n<p>Set the label " +
             code(label + "=PORT") + " on it (" +
             code("docker run -l " + label + "=" + std::to_string(c.ports.front()) + " ...") +
             ", or " + code("labels:") + " in compose) to pick one.</p>";
      break;
    case NameTable::Outcome::NoPort:
      html = "<p>Container " + code(c.name) + " exposes no TCP port. Set the label " +
             code(label + "=PORT") + " on it (or " + code("EXPOSE") +
             " the port in its image) to say where its HTTP "
             "server listens.</p>";
      break;
    case NameTable::Outcome::BadLabel:
      html = "<p>Container " + code(c.name) + " has the label " + code(label + "=" + c.port_label) +
             ", which is not a port from 1 to 65535.</p>";
      break;
    case NameTable::Outcome::NoAddress:
      html = "<p>Container " + code(c.name) + " has no network address berth can reach (is it on " +
             code("--network none") + "?).</p>";
      break;
    case NameTable::Outcome::Found:
    case NameTable::Outcome::Unknown:
    case NameTable::Outcome::Asleep:
      html = "<p>Nothing to serve for " + code(host) + ".</p>";
      break;
  }
  return page(502, "Cannot serve " + host, html);
}

std::string DomainPages::unreachable(const std::string& host, const std::string& target,
                                     const std::string& error) {
  return page(502, "Cannot reach " + host,
              "<p>" + code(host) + " goes to " + code(target) +
                  ", which did not accept the "
                  "connection: " +
                  escape(error) +
                  ".</p>\n<p>Is the server in the container "
                  "listening on that port (on all addresses, not only its loopback)?</p>");
}

std::string DomainPages::guestDown(const std::string& host, const std::string& profile,
                                   const std::string& why) {
  return page(503, "Profile " + profile + " is not running",
              "<p>" + code(host) + " cannot be served: the guest of profile " + code(profile) +
                  " is " + escape(why) + ". Start it with " +
                  code(profile == "default" ? "berth start" : "berth start " + profile) +
                  " (or any docker command, on a lazy profile).</p>");
}

std::string DomainPages::notWoken(const std::string& host, const std::string& container,
                                  const std::string& error) {
  return page(503, "Cannot wake " + container,
              "<p>" + code(host) + " names " + code(container) +
                  ", a stopped <code>berth.wake=true</code> container, and starting it failed: " +
                  escape(error) + ".</p>");
}

std::string DomainPages::badRequest(const std::string& why) {
  return page(400, "Bad request", "<p>" + escape(why) + "</p>\n" + howNamesWork(""));
}

}  // namespace berth::server
