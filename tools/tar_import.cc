#include "tools/tar_import.h"

#include <archive.h>
#include <archive_entry.h>

#include <memory>

#include "tools/layer_writer.h"

namespace strata::tools {

namespace {

using ArchivePtr = std::unique_ptr<struct archive, decltype(&archive_read_free)>;

std::string ArchiveError(struct archive* a) {
  const char* s = archive_error_string(a);
  return s ? s : "unknown libarchive error";
}

LayerEntry EntryFrom(struct archive_entry* ae) {
  LayerEntry e;
  const char* p = archive_entry_pathname(ae);
  e.path = p ? p : "";
  e.mode = archive_entry_mode(ae);
  e.uid = static_cast<uid_t>(archive_entry_uid(ae));
  e.gid = static_cast<gid_t>(archive_entry_gid(ae));
  e.mtime = {archive_entry_mtime(ae), archive_entry_mtime_nsec(ae)};
  if (archive_entry_atime_is_set(ae))
    e.atime = {archive_entry_atime(ae), archive_entry_atime_nsec(ae)};
  else
    e.atime = e.mtime;
  e.rdev = archive_entry_rdev(ae);
  e.size = static_cast<uint64_t>(archive_entry_size(ae));
  if (const char* s = archive_entry_symlink(ae)) e.symlink = s;
  if (const char* h = archive_entry_hardlink(ae)) e.hardlink = h;
  archive_entry_xattr_reset(ae);
  const char* name;
  const void* value;
  size_t size;
  while (archive_entry_xattr_next(ae, &name, &value, &size) == ARCHIVE_OK)
    e.xattrs.emplace_back(name, std::string(static_cast<const char*>(value), size));
  return e;
}

}  // namespace

Result<ImportStats> ImportLayerTar(const std::string& tar_path, const std::string& dir,
                                   std::string* error,
                                   const std::function<void(uint64_t)>& on_progress) {
  ArchivePtr a(archive_read_new(), archive_read_free);
  archive_read_support_filter_all(a.get());
  archive_read_support_format_tar(a.get());
  if (archive_read_open_filename(a.get(), tar_path.c_str(), 1 << 20) != ARCHIVE_OK) {
    *error = "'" + tar_path + "': " + ArchiveError(a.get());
    return Errno(EINVAL);
  }
  auto writer = LayerWriter::Open(dir, LayerWriter::Whiteouts::kOverlay, error);
  if (!writer.ok()) return Errno(writer.error());

  ImportStats stats;
  for (;;) {
    struct archive_entry* ae;
    int r = archive_read_next_header(a.get(), &ae);
    if (r == ARCHIVE_EOF) break;
    if (r == ARCHIVE_FATAL || r == ARCHIVE_RETRY) {
      *error = "'" + tar_path + "': truncated or corrupt archive after " +
               std::to_string(stats.entries) + " entries: " + ArchiveError(a.get());
      return Errno(EIO);
    }
    // ARCHIVE_WARN (e.g. an unknown pax keyword) is not fatal.
    LayerEntry e = EntryFrom(ae);
    std::string entry_error;
    // Blocks, not archive_read_data(): that one fills a sparse entry's holes
    // with zeros, and a few KiB of archive could then write terabytes.
    BlockReader blocks = [&]() -> Result<DataBlock> {
      for (;;) {
        const void* buf;
        size_t size;
        la_int64_t offset;
        int r = archive_read_data_block(a.get(), &buf, &size, &offset);
        if (r == ARCHIVE_EOF) return DataBlock{};
        if (r < ARCHIVE_WARN || offset < 0) {
          entry_error = ArchiveError(a.get());
          return Errno(EIO);
        }
        if (size == 0) continue;
        stats.bytes += size;
        return DataBlock{static_cast<const char*>(buf), size, static_cast<uint64_t>(offset)};
      }
    };
    Status s = writer->Add(e, blocks, error);
    if (!s.ok()) {
      if (!entry_error.empty())
        *error = "'" + tar_path + "': truncated or corrupt archive in entry '" + e.path + "': " + entry_error;
      return Errno(s.error());
    }
    ++stats.entries;
    if (on_progress) on_progress(static_cast<uint64_t>(archive_filter_bytes(a.get(), -1)));
  }
  stats.whiteouts = writer->whiteouts();
  Status s = writer->Finish(error);
  if (!s.ok()) return Errno(s.error());
  return stats;
}

}  // namespace strata::tools
