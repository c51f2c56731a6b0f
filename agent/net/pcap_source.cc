#include "agent/net/pcap_source.h"

#include <fmt/format.h>
#include <poll.h>

#include <cerrno>
#include <cstdio>

#include "agent/net/packet.h"

namespace ward::net {

Result<std::unique_ptr<PcapSource>> PcapSource::OpenFile(const std::string& path) {
  char err[PCAP_ERRBUF_SIZE] = {};
  pcap_t* p = pcap_open_offline(path.c_str(), err);
  if (p == nullptr) return InvalidArgument(fmt::format("{}: {}", path, err));
  auto s = std::unique_ptr<PcapSource>(new PcapSource());
  s->pcap_ = p;
  s->linktype_ = pcap_datalink(p);
  return s;
}

Result<std::unique_ptr<PcapSource>> PcapSource::OpenMemory(std::string_view bytes) {
  if (bytes.empty()) return InvalidArgument("empty capture");
  FILE* f = fmemopen(const_cast<char*>(bytes.data()), bytes.size(), "rb");
  if (f == nullptr) return ErrnoStatus(errno, "fmemopen");
  char err[PCAP_ERRBUF_SIZE] = {};
  pcap_t* p = pcap_fopen_offline(f, err);
  if (p == nullptr) {
    fclose(f);
    return InvalidArgument(fmt::format("capture: {}", err));
  }
  auto s = std::unique_ptr<PcapSource>(new PcapSource());
  s->pcap_ = p;
  s->linktype_ = pcap_datalink(p);
  return s;
}

Result<std::unique_ptr<PcapSource>> PcapSource::OpenLive(const std::string& iface,
                                                         const std::vector<uint16_t>& ports) {
  char err[PCAP_ERRBUF_SIZE] = {};
  std::string dev = iface.empty() ? "any" : iface;
  pcap_t* p = pcap_create(dev.c_str(), err);
  if (p == nullptr) return Unavailable(fmt::format("pcap {}: {}", dev, err));
  auto s = std::unique_ptr<PcapSource>(new PcapSource());
  s->pcap_ = p;
  pcap_set_snaplen(p, 262144);
  pcap_set_promisc(p, 0);
  pcap_set_timeout(p, 100);
  pcap_set_immediate_mode(p, 1);
  pcap_set_buffer_size(p, 16 << 20);
  int rc = pcap_activate(p);
  if (rc < 0) {
    return Unavailable(fmt::format("pcap {}: {}", dev, pcap_geterr(p)));
  }
  std::string filter;
  for (uint16_t port : ports) {
    if (!filter.empty()) filter += " or ";
    filter += fmt::format("tcp port {}", port);
  }
  bpf_program prog{};
  if (pcap_compile(p, &prog, filter.c_str(), 1, PCAP_NETMASK_UNKNOWN) != 0 ||
      pcap_setfilter(p, &prog) != 0) {
    std::string e = pcap_geterr(p);
    pcap_freecode(&prog);
    return Internal(fmt::format("pcap filter \"{}\": {}", filter, e));
  }
  pcap_freecode(&prog);
  s->linktype_ = pcap_datalink(p);
  // libpcap blocks without a timeout in immediate mode: poll the descriptor ourselves.
  if (pcap_setnonblock(p, 1, err) != 0) return Internal(fmt::format("pcap {}: {}", dev, err));
  s->fd_ = pcap_get_selectable_fd(p);
  return s;
}

PcapSource::~PcapSource() {
  if (pcap_ != nullptr) pcap_close(pcap_);
}

Result<PcapSource::Next> PcapSource::Read(std::string_view* ip_packet, int64_t* ts_ms) {
  for (;;) {
    pcap_pkthdr* h = nullptr;
    const u_char* data = nullptr;
    int rc = pcap_next_ex(pcap_, &h, &data);
    if (rc == 0 && fd_ >= 0) {
      pollfd pfd{fd_, POLLIN, 0};
      if (::poll(&pfd, 1, 100) <= 0) return Next::kTimeout;
      rc = pcap_next_ex(pcap_, &h, &data);
    }
    if (rc == 0) return Next::kTimeout;
    if (rc == PCAP_ERROR_BREAK) return Next::kEnd;
    if (rc < 0) return DataLoss(fmt::format("pcap: {}", pcap_geterr(pcap_)));
    auto ip = IpFromFrame(linktype_, std::string_view(reinterpret_cast<const char*>(data),
                                                      std::min<uint32_t>(h->caplen, h->len)));
    if (!ip) {
      ++skipped_;
      continue;
    }
    *ip_packet = *ip;
    *ts_ms = static_cast<int64_t>(h->ts.tv_sec) * 1000 + h->ts.tv_usec / 1000;
    return Next::kPacket;
  }
}

}  // namespace ward::net
