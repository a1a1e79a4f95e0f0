#include "tools/layer_digest.h"

#include <fcntl.h>
#include <sys/sysmacros.h>
#include <xxhash.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <memory>
#include <utility>

#include "fs/layer/whiteout.h"
#include "fs/sys/syscalls.h"
#include "tools/content_hash.h"
#include "tools/tree_walk.h"

namespace strata::tools {

namespace {

// Bumped whenever the serialization below changes.
constexpr std::string_view kDomain = "strata-layer-digest-v1";

struct Record {
  std::string path;
  EntryKind kind = EntryKind::kRegular;
  struct stat st {};
  bool opaque = false;
  std::string link_target;
  std::vector<std::pair<std::string, std::string>> xattrs;  // sorted, public only
  std::string hardlink_to;  // earlier path of the same inode, in canonical order
  size_t content = SIZE_MAX;  // index into the files to hash
};

void PutU32(std::string& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out += static_cast<char>(v >> (8 * i));
}
void PutU64(std::string& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out += static_cast<char>(v >> (8 * i));
}
void PutString(std::string& out, const std::string& s) {
  PutU64(out, s.size());
  out += s;
}

Result<std::vector<std::pair<std::string, std::string>>> PublicXattrs(int parent_fd,
                                                                      const std::string& name,
                                                                      int own_fd) {
  UniqueFd opath;
  int fd = own_fd;
  if (fd < 0) {
    auto o = sys::OpenAt(parent_fd, name.c_str(), O_PATH);
    if (!o.ok()) return Errno(o.error());
    opath = std::move(*o);
    fd = opath.get();
  }
  std::vector<std::pair<std::string, std::string>> out;
  auto names = sys::ListXattrs(fd);
  if (!names.ok()) {
    if (names.error() == ENOTSUP || names.error() == EOPNOTSUPP) return out;
    return Errno(names.error());
  }
  for (const auto& x : *names) {
    if (layer::IsPrivateXattr(x)) continue;
    auto v = sys::GetXattr(fd, x.c_str());
    if (!v.ok()) {
      if (v.error() == ENODATA) continue;  // removed meanwhile
      return Errno(v.error());
    }
    out.emplace_back(x, std::move(*v));
  }
  std::sort(out.begin(), out.end());
  return out;
}

// The bytes of one record; `content` is the file's hash bytes (regular files).
std::string Serialize(const Record& r, const std::string& content, bool with_times) {
  std::string out;
  out += KindLetter(r.kind);
  PutString(out, r.path);
  if (r.kind == EntryKind::kWhiteout) return out;  // a name and nothing else
  PutU32(out, static_cast<uint32_t>(r.st.st_mode & 07777));
  PutU32(out, r.st.st_uid);
  PutU32(out, r.st.st_gid);
  switch (r.kind) {
    case EntryKind::kDirectory: out += r.opaque ? 'O' : '-'; break;
    case EntryKind::kRegular:
      PutString(out, r.hardlink_to);
      PutU64(out, static_cast<uint64_t>(r.st.st_size));
      out += content;
      break;
    case EntryKind::kSymlink: PutString(out, r.link_target); break;
    case EntryKind::kCharDevice:
    case EntryKind::kBlockDevice:
      PutU32(out, major(r.st.st_rdev));
      PutU32(out, minor(r.st.st_rdev));
      break;
    default: break;
  }
  PutU32(out, static_cast<uint32_t>(r.xattrs.size()));
  for (const auto& [k, v] : r.xattrs) {
    PutString(out, k);
    PutString(out, v);
  }
  if (with_times) {
    PutU64(out, static_cast<uint64_t>(r.st.st_mtim.tv_sec));
    PutU32(out, static_cast<uint32_t>(r.st.st_mtim.tv_nsec));
  }
  return out;
}

}  // namespace

Result<LayerDigest> DigestLayer(int root_fd, const DigestOptions& options, std::string* error) {
  // 1. Walk, collecting metadata. Markers are normalized afterwards, once every
  //    name of a directory is known (`.wh.X` need not sort next to X).
  std::map<std::string, Record, decltype(&CanonicalLess)> records(&CanonicalLess);
  std::vector<std::string> whiteouts;      // paths deleted by whiteouts
  std::vector<std::string> opaque_marked;  // dirs holding `.wh..wh..opq`
  std::string failed_path;
  int failed = 0;
  Status walked = WalkTree(root_fd, true, [&](const WalkItem& item) {
    ClassifiedEntry c = item.path.empty() ? ClassifiedEntry{EntryKind::kDirectory, ""}
                                          : ClassifyEntry(item.parent_fd, item.name, item.st);
    std::string dir = item.path.substr(0, item.path.size() - item.name.size());
    if (!dir.empty()) dir.pop_back();
    if (c.kind == EntryKind::kOpaqueMarker) {
      opaque_marked.push_back(dir);
      return WalkAction::kSkipChildren;
    }
    if (c.kind == EntryKind::kWhiteout) {
      whiteouts.push_back(JoinPath(dir, c.target));
      return WalkAction::kSkipChildren;
    }
    Record r;
    r.path = item.path;
    r.kind = c.kind;
    r.st = item.st;
    if (c.kind == EntryKind::kDirectory) r.opaque = IsOpaqueDir(item.fd);
    if (c.kind == EntryKind::kSymlink) {
      auto o = sys::OpenAt(item.parent_fd, item.name.c_str(), O_PATH);
      auto target = o.ok() ? sys::ReadLinkFd(o->get()) : Result<std::string>(Errno(o.error()));
      if (!target.ok()) {
        failed = target.error();
        failed_path = item.path;
        return WalkAction::kStop;
      }
      r.link_target = std::move(*target);
    }
    auto xattrs = PublicXattrs(item.parent_fd, item.name, item.fd);
    if (!xattrs.ok()) {
      failed = xattrs.error();
      failed_path = item.path;
      return WalkAction::kStop;
    }
    r.xattrs = std::move(*xattrs);
    records.emplace(item.path, std::move(r));
    return WalkAction::kContinue;
  });
  if (!walked.ok() || failed) {
    int e = failed ? failed : walked.error();
    *error = (failed_path.empty() ? std::string("walking the layer") : "'" + failed_path + "'") +
             ": " + std::strerror(e);
    return Errno(e);
  }
  for (const auto& d : opaque_marked) {
    auto it = records.find(d);
    if (it != records.end()) it->second.opaque = true;
  }
  for (const auto& w : whiteouts) {
    auto it = records.find(w);
    if (it != records.end()) {
      // OCI: `.wh.X` next to X deletes the lower X; X itself replaces it. For
      // a directory that is what the kernel format calls opaque.
      if (it->second.kind == EntryKind::kDirectory) it->second.opaque = true;
      continue;
    }
    Record r;
    r.path = w;
    r.kind = EntryKind::kWhiteout;
    records.emplace(w, std::move(r));
  }

  // 2. Hard links and the files to hash, in canonical order.
  std::vector<FileToHash> files;
  std::map<std::pair<dev_t, ino_t>, std::string> first_link;
  LayerDigest out;
  for (auto& [path, r] : records) {
    ++out.entries;
    if (r.kind != EntryKind::kRegular) continue;
    ++out.files;
    if (r.st.st_nlink > 1) {
      auto [it, inserted] = first_link.emplace(std::make_pair(r.st.st_dev, r.st.st_ino), path);
      if (!inserted) {
        r.hardlink_to = it->second;
        r.content = records.at(it->second).content;
        continue;
      }
    }
    out.bytes += static_cast<uint64_t>(r.st.st_size);
    r.content = files.size();
    files.push_back(FileToHash{path, static_cast<uint64_t>(r.st.st_size), {}, 0});
  }
  if (options.on_total) options.on_total(out.bytes);

  // 3. Contents, in parallel.
  HashFiles(root_fd, files, options.threads, options.on_bytes);
  for (const auto& f : files)
    if (f.error) {
      *error = "'" + f.path + "': " + std::strerror(f.error);
      return Errno(f.error);
    }

  // 4. One stream over the records, in canonical order.
  std::unique_ptr<XXH3_state_t, decltype(&XXH3_freeState)> state(XXH3_createState(), XXH3_freeState);
  XXH3_128bits_reset(state.get());
  XXH3_128bits_update(state.get(), kDomain.data(), kDomain.size());
  char flags = options.with_times ? 'T' : '-';
  XXH3_128bits_update(state.get(), &flags, 1);
  for (const auto& [path, r] : records) {
    std::string content =
        r.kind == EntryKind::kRegular ? HashBytes(files[r.content].hash) : std::string();
    std::string bytes = Serialize(r, content, options.with_times);
    XXH3_128bits_update(state.get(), bytes.data(), bytes.size());
    if (options.want_tree) {
      EntryDigest e;
      e.path = path;
      e.kind = r.kind;
      e.mode = r.st.st_mode & 07777;
      e.size = r.kind == EntryKind::kRegular ? static_cast<uint64_t>(r.st.st_size) : 0;
      e.digest = kDigestPrefix + HashHex(XXH3_128bits(bytes.data(), bytes.size()));
      if (r.kind == EntryKind::kRegular) e.content_digest = kDigestPrefix + HashHex(files[r.content].hash);
      out.tree.push_back(std::move(e));
    }
  }
  out.digest = kDigestPrefix + HashHex(XXH3_128bits_digest(state.get()));
  return out;
}

}  // namespace strata::tools
