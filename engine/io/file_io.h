// Whole-file reads and atomic writes (temp file "path.tmp.<pid>" + rename) for the array formats.
#pragma once
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace orbit::io {

// The whole file; throws orbit::Error naming `who` and the path when it cannot be read.
std::vector<uint8_t> read_file(const std::string& path, const char* who);

// Where encoders write their bytes.
class ByteSink {
 public:
  virtual ~ByteSink() = default;
  virtual void write(const void* p, size_t n) = 0;
  void write(const std::string& s) { write(s.data(), s.size()); }
};

class VectorSink final : public ByteSink {
 public:
  std::vector<uint8_t> bytes;
  void write(const void* p, size_t n) override;
};

// Makes sure a file can be written at `path` before any long work that ends by writing it: creates
// the folders leading to it (like mkdir -p) and checks that the last one is writable; throws
// orbit::Error naming `who` and the folder otherwise.
void prepare_output(const std::string& path, const char* who);

// Writes to "path.tmp.<pid>" (creating the folders leading to it); commit() flushes, syncs and renames
// it over `path`. A file never committed (an exception on the way) is removed by the destructor.
class AtomicFile final : public ByteSink {
 public:
  AtomicFile(const std::string& path, const char* who);
  ~AtomicFile() override;
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void write(const void* p, size_t n) override;
  void commit();

 private:
  [[noreturn]] void fail(const std::string& what);
  std::string path_, tmp_;
  const char* who_;
  std::FILE* f_ = nullptr;
  bool committed_ = false;
};

}  // namespace orbit::io
