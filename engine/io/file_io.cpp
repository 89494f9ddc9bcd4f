// Whole-file reads and atomic (temp + rename) writes; see file_io.h.
#include "engine/io/file_io.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "engine/error.h"

namespace orbit::io {

namespace {
std::string errno_text() { return std::strerror(errno); }
}  // namespace

std::vector<uint8_t> read_file(const std::string& path, const char* who) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) throw Error(detail::cat(who, ": cannot open '", path, "': ", errno_text()));
  struct stat st {};
  if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
    std::fclose(f);
    throw Error(detail::cat(who, ": '", path, "' is not a regular file"));
  }
  // Sized from the file itself, never from anything read out of it.
  std::vector<uint8_t> bytes(static_cast<size_t>(st.st_size));
  size_t got = bytes.empty() ? 0 : std::fread(bytes.data(), 1, bytes.size(), f);
  bool err = std::ferror(f) != 0;
  std::fclose(f);
  if (err || got != bytes.size())
    throw Error(detail::cat(who, ": reading '", path, "' failed after ", got, " of ", bytes.size(), " bytes"));
  return bytes;
}

void prepare_output(const std::string& path, const char* who) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::path(path).parent_path();
  if (dir.empty()) return;  // the working folder
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec || !fs::is_directory(dir))
    throw Error(detail::cat(who, ": cannot create the folder '", dir.string(), "' for '", path, "': ",
                            ec ? ec.message() : std::string("a file of that name is in the way")));
  if (access(dir.c_str(), W_OK) != 0)
    throw Error(detail::cat(who, ": cannot write in the folder '", dir.string(), "' (for '", path, "'): ", errno_text()));
}

void VectorSink::write(const void* p, size_t n) {
  if (n == 0) return;
  auto b = static_cast<const uint8_t*>(p);
  bytes.insert(bytes.end(), b, b + n);
}

AtomicFile::AtomicFile(const std::string& path, const char* who)
    : path_(path), tmp_(path + ".tmp." + std::to_string(getpid())), who_(who) {
  prepare_output(path, who);
  f_ = std::fopen(tmp_.c_str(), "wb");
  if (!f_) throw Error(detail::cat(who_, ": cannot create '", tmp_, "': ", errno_text()));
}

AtomicFile::~AtomicFile() {
  if (f_) std::fclose(f_);
  if (!committed_) std::remove(tmp_.c_str());
}

void AtomicFile::fail(const std::string& what) {
  std::string msg = detail::cat(who_, ": ", what, " '", tmp_, "' (for '", path_, "'): ", errno_text());
  if (f_) std::fclose(f_);
  f_ = nullptr;
  std::remove(tmp_.c_str());
  throw Error(msg);
}

void AtomicFile::write(const void* p, size_t n) {
  if (n == 0) return;
  if (!f_) throw Error(detail::cat(who_, ": write to '", path_, "' after it was closed"));
  if (std::fwrite(p, 1, n, f_) != n) fail("writing");
}

void AtomicFile::commit() {
  if (!f_) throw Error(detail::cat(who_, ": '", path_, "' was already committed or failed"));
  if (std::fflush(f_) != 0) fail("flushing");
  if (fsync(fileno(f_)) != 0) fail("syncing");
  int rc = std::fclose(f_);
  f_ = nullptr;
  if (rc != 0) fail("closing");
  if (std::rename(tmp_.c_str(), path_.c_str()) != 0) fail("renaming");
  committed_ = true;
}

}  // namespace orbit::io
