#include "tools/tar_export.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <map>
#include <memory>
#include <optional>

#include "fs/layer/whiteout.h"
#include "fs/sys/syscalls.h"
#include "tools/layer_entry.h"
#include "tools/layer_writer.h"
#include "tools/tree_walk.h"

namespace strata::tools {

namespace {

constexpr size_t kChunk = 1 << 20;

// Where the entries go: a tarball or a directory.
class EntrySink {
 public:
  virtual ~EntrySink() = default;
  virtual Status Add(const LayerEntry& e, const DataReader& data, std::string* error) = 0;
  virtual Status Close(std::string* error) = 0;
};

class TarSink : public EntrySink {
 public:
  static std::unique_ptr<TarSink> Open(const std::string& out, std::string* error) {
    std::unique_ptr<TarSink> s(new TarSink);
    s->a_ = archive_write_new();
    // pax: long names, big ids, nanosecond times and xattrs (SCHILY.xattr),
    // which podman/containers-storage read back.
    archive_write_set_format_pax_restricted(s->a_);
    auto ends = [&](const char* suffix) {
      size_t n = std::strlen(suffix);
      return out.size() >= n && out.compare(out.size() - n, n, suffix) == 0;
    };
    if (ends(".gz") || ends(".tgz")) archive_write_add_filter_gzip(s->a_);
    else if (ends(".zst")) archive_write_add_filter_zstd(s->a_);
    else archive_write_add_filter_none(s->a_);
    // No padding to 10 KiB records beyond what tar needs.
    archive_write_set_bytes_in_last_block(s->a_, 1);
    int r = out == "-" ? archive_write_open_fd(s->a_, STDOUT_FILENO)
                       : archive_write_open_filename(s->a_, out.c_str());
    if (r != ARCHIVE_OK) {
      *error = "'" + out + "': " + archive_error_string(s->a_);
      return nullptr;
    }
    return s;
  }
  ~TarSink() override {
    if (a_) archive_write_free(a_);
  }
  Status Add(const LayerEntry& e, const DataReader& data, std::string* error) override {
    std::unique_ptr<struct archive_entry, decltype(&archive_entry_free)> ae(archive_entry_new(),
                                                                            archive_entry_free);
    archive_entry_set_pathname(ae.get(), e.path.c_str());
    archive_entry_set_mode(ae.get(), e.mode);
    archive_entry_set_uid(ae.get(), e.uid);
    archive_entry_set_gid(ae.get(), e.gid);
    archive_entry_set_mtime(ae.get(), e.mtime.tv_sec, e.mtime.tv_nsec);
    if (!e.hardlink.empty()) {
      archive_entry_set_hardlink(ae.get(), e.hardlink.c_str());
      archive_entry_set_size(ae.get(), 0);
    } else if (S_ISREG(e.mode)) {
      archive_entry_set_size(ae.get(), static_cast<la_int64_t>(e.size));
    }
    if (S_ISLNK(e.mode)) archive_entry_set_symlink(ae.get(), e.symlink.c_str());
    if (S_ISCHR(e.mode) || S_ISBLK(e.mode)) archive_entry_set_rdev(ae.get(), e.rdev);
    for (const auto& [k, v] : e.xattrs) archive_entry_xattr_add_entry(ae.get(), k.c_str(), v.data(), v.size());
    if (archive_write_header(a_, ae.get()) < ARCHIVE_WARN) {
      *error = "'" + e.path + "': " + archive_error_string(a_);
      return Errno(EIO);
    }
    if (S_ISREG(e.mode) && e.hardlink.empty() && data) {
      std::unique_ptr<char[]> buf(new char[kChunk]);
      uint64_t left = e.size;
      for (;;) {
        auto n = data(buf.get(), kChunk);
        if (!n.ok()) {
          *error = "'" + e.path + "': " + std::strerror(n.error());
          return Errno(n.error());
        }
        if (*n == 0) break;
        // The header promised e.size bytes: a file that grew meanwhile is cut.
        size_t take = static_cast<size_t>(std::min<uint64_t>(*n, left));
        if (take && archive_write_data(a_, buf.get(), take) < 0) {
          *error = "'" + e.path + "': " + archive_error_string(a_);
          return Errno(EIO);
        }
        left -= take;
      }
      if (left) {
        *error = "'" + e.path + "': file shrank while being written";
        return Errno(EIO);
      }
    }
    return Status::Ok();
  }
  Status Close(std::string* error) override {
    if (archive_write_close(a_) != ARCHIVE_OK) {
      *error = archive_error_string(a_);
      return Errno(EIO);
    }
    return Status::Ok();
  }

 private:
  struct archive* a_ = nullptr;
};

class DirSink : public EntrySink {
 public:
  explicit DirSink(LayerWriter w) : w_(std::move(w)) {}
  Status Add(const LayerEntry& e, const DataReader& data, std::string* error) override {
    return w_.Add(e, data, error);
  }
  Status Close(std::string* error) override { return w_.Finish(error); }

 private:
  LayerWriter w_;
};

std::vector<std::pair<std::string, std::string>> PublicXattrs(int fd) {
  std::vector<std::pair<std::string, std::string>> out;
  auto names = sys::ListXattrs(fd);
  if (!names.ok()) return out;
  for (const auto& n : *names) {
    if (layer::IsPrivateXattr(n)) continue;
    auto v = sys::GetXattr(fd, n.c_str());
    if (v.ok()) out.emplace_back(n, std::move(*v));
  }
  return out;
}

LayerEntry EntryFromStat(const std::string& path, const struct stat& st) {
  LayerEntry e;
  e.path = path;
  e.mode = st.st_mode;
  e.uid = st.st_uid;
  e.gid = st.st_gid;
  e.atime = st.st_atim;
  e.mtime = st.st_mtim;
  e.rdev = st.st_rdev;
  e.size = S_ISREG(st.st_mode) ? static_cast<uint64_t>(st.st_size) : 0;
  return e;
}

}  // namespace

bool IsDirectoryOutput(const std::string& out) {
  if (!out.empty() && out.back() == '/') return true;
  struct stat st;
  return ::stat(out.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

Result<ExportStats> ExportLayer(int upper_fd, const std::string& out, std::string* error,
                                const std::function<void(uint64_t)>& on_bytes) {
  std::unique_ptr<EntrySink> sink;
  if (IsDirectoryOutput(out)) {
    auto w = LayerWriter::Open(out, LayerWriter::Whiteouts::kVerbatim, error);
    if (!w.ok()) return Errno(w.error());
    sink = std::make_unique<DirSink>(std::move(*w));
  } else {
    sink = TarSink::Open(out, error);
    if (!sink) return Errno(EIO);
  }

  ExportStats stats;
  std::map<std::pair<dev_t, ino_t>, std::string> first_link;
  std::string failure;
  auto add = [&](const LayerEntry& e, const DataReader& data) {
    Status s = sink->Add(e, data, &failure);
    if (s.ok()) ++stats.entries;
    return s.ok();
  };
  auto whiteout_entry = [&](const std::string& path, const struct stat& st) {
    LayerEntry e = EntryFromStat(path, st);
    e.mode = S_IFREG;  // empty, mode 0: what containers/storage writes
    e.size = 0;
    e.rdev = 0;
    ++stats.whiteouts;
    return add(e, {});
  };

  Status walked = WalkTree(upper_fd, false, [&](const WalkItem& item) {
    ClassifiedEntry c = ClassifyEntry(item.parent_fd, item.name, item.st);
    std::string dir = item.path.substr(0, item.path.size() - item.name.size());
    switch (c.kind) {
      case EntryKind::kOpaqueMarker:
        return WalkAction::kContinue;  // written right after its directory
      case EntryKind::kWhiteout:
        return whiteout_entry(dir + std::string(layer::kWhiteoutPrefix) + c.target, item.st)
                   ? WalkAction::kContinue : WalkAction::kStop;
      default: break;
    }
    LayerEntry e = EntryFromStat(item.path, item.st);
    UniqueFd opath;
    int meta_fd = item.fd;
    if (meta_fd < 0) {
      auto o = sys::OpenAt(item.parent_fd, item.name.c_str(), O_PATH);
      if (!o.ok()) {
        failure = "'" + item.path + "': " + std::strerror(o.error());
        return WalkAction::kStop;
      }
      opath = std::move(*o);
      meta_fd = opath.get();
    }
    e.xattrs = PublicXattrs(meta_fd);
    if (c.kind == EntryKind::kSymlink) {
      auto t = sys::ReadLinkFd(meta_fd);
      if (!t.ok()) {
        failure = "'" + item.path + "': " + std::strerror(t.error());
        return WalkAction::kStop;
      }
      e.symlink = *t;
    }
    DataReader data;
    UniqueFd file;
    if (c.kind == EntryKind::kRegular && item.st.st_nlink > 1) {
      auto [it, inserted] = first_link.emplace(std::make_pair(item.st.st_dev, item.st.st_ino), item.path);
      if (!inserted) e.hardlink = it->second;
    }
    if (c.kind == EntryKind::kRegular && e.hardlink.empty()) {
      auto f = sys::OpenAt(item.parent_fd, item.name.c_str(), O_RDONLY | O_NOCTTY);
      if (!f.ok()) {
        failure = "'" + item.path + "': " + std::strerror(f.error());
        return WalkAction::kStop;
      }
      file = std::move(*f);
      data = [&](char* buf, size_t size) -> Result<size_t> {
        ssize_t n;
        do n = ::read(file.get(), buf, size);
        while (n < 0 && errno == EINTR);
        if (n < 0) return Errno::Last();
        stats.bytes += static_cast<uint64_t>(n);
        if (on_bytes) on_bytes(static_cast<uint64_t>(n));
        return static_cast<size_t>(n);
      };
    }
    if (!add(e, data)) return WalkAction::kStop;
    if (c.kind == EntryKind::kDirectory && IsOpaqueDir(item.fd)) {
      if (!whiteout_entry(item.path + "/" + layer::kOpaqueMarkerFile, item.st)) return WalkAction::kStop;
    }
    return WalkAction::kContinue;
  });
  if (!failure.empty()) {
    *error = failure;
    return Errno(EIO);
  }
  if (!walked.ok()) {
    *error = std::string("walking the upper layer: ") + std::strerror(walked.error());
    return Errno(walked.error());
  }
  Status s = sink->Close(error);
  if (!s.ok()) return Errno(s.error());
  return stats;
}

}  // namespace strata::tools
