// ZIP reading and writing; see zip.h. All arithmetic on file-supplied numbers is done in 64 bits
// as "x <= limit - y" comparisons, so no offset or size read from the file can wrap around.
#include "engine/io/zip.h"

#include <algorithm>
#include <set>

#include "engine/error.h"
#include "engine/io/bytes.h"
#include "engine/io/crc32.h"
#include "engine/io/inflate.h"

namespace orbit::io {

namespace {

constexpr uint32_t kLocalSig = 0x04034b50, kCentralSig = 0x02014b50, kEocdSig = 0x06054b50;
constexpr uint32_t kZip64EocdSig = 0x06064b50, kZip64LocatorSig = 0x07064b50;
constexpr size_t kLocalLen = 30, kCentralLen = 46, kEocdLen = 22, kZip64EocdLen = 56, kZip64LocatorLen = 20;
constexpr uint32_t k32 = 0xFFFFFFFFu;
constexpr uint16_t k16 = 0xFFFFu;
constexpr uint16_t kStored = 0, kDeflate = 8;
// DEFLATE cannot expand data by more than about 1032:1.
constexpr uint64_t kMaxDeflateRatio = 1032;

struct Entry {
  std::string name;
  uint16_t flags = 0, method = 0;
  uint32_t crc = 0;
  uint64_t csize = 0, usize = 0, local = 0;  // local: offset of the local header
  uint64_t data = 0;                         // offset of the entry's data
};

const char* method_name(uint16_t m) {
  switch (m) {
    case 1: return "shrink";
    case 6: return "implode";
    case 9: return "deflate64";
    case 12: return "bzip2";
    case 14: return "lzma";
    case 93: return "zstandard";
    case 95: return "xz";
    default: return "unknown";
  }
}

class Reader {
 public:
  Reader(const uint8_t* p, size_t n, const std::string& what) : p_(p), n_(n), what_(what) {}

  std::vector<Entry> directory() {
    uint64_t eocd = find_eocd();
    uint64_t count = load_u16(p_ + eocd + 10), cd_size = load_u32(p_ + eocd + 12), cd_off = load_u32(p_ + eocd + 16);
    uint64_t disk = load_u16(p_ + eocd + 4), cd_disk = load_u16(p_ + eocd + 6), disk_count = load_u16(p_ + eocd + 8);
    uint64_t cd_limit = eocd;  // the central directory must end before this
    bool has_locator = eocd >= kZip64LocatorLen && load_u32(p_ + eocd - kZip64LocatorLen) == kZip64LocatorSig;
    if (has_locator) {
      uint64_t loc = eocd - kZip64LocatorLen;
      uint64_t rec = load_u64(p_ + loc + 8);
      if (load_u32(p_ + loc + 4) != 0 || load_u32(p_ + loc + 16) > 1)
        fail("multi-disk (split) zip archives are not supported");
      if (loc < kZip64EocdLen || rec > loc - kZip64EocdLen)
        fail(detail::cat("zip64 end-of-central-directory record offset ", rec, " lies outside the file"));
      if (load_u32(p_ + rec) != kZip64EocdSig) fail("bad zip64 end-of-central-directory record signature");
      disk = load_u32(p_ + rec + 16);
      cd_disk = load_u32(p_ + rec + 20);
      disk_count = load_u64(p_ + rec + 24);
      count = load_u64(p_ + rec + 32);
      cd_size = load_u64(p_ + rec + 40);
      cd_off = load_u64(p_ + rec + 48);
      cd_limit = rec;
    } else if (count == k16 || disk_count == k16 || cd_size == k32 || cd_off == k32) {
      fail("the end-of-central-directory record needs zip64 values but has no zip64 locator");
    }
    if (disk != 0 || cd_disk != 0 || disk_count != count) fail("multi-disk (split) zip archives are not supported");
    if (cd_off > cd_limit || cd_size > cd_limit - cd_off)
      fail(detail::cat("central directory (offset ", cd_off, ", ", cd_size, " bytes) lies outside the file (",
                       n_, " bytes)"));
    if (count > cd_size / kCentralLen)
      fail(detail::cat("central directory claims ", count, " entries but is only ", cd_size, " bytes"));
    cd_off_ = cd_off;

    std::vector<Entry> entries;
    entries.reserve(count);  // bounded by the directory's real size just above
    uint64_t pos = cd_off, end = cd_off + cd_size;
    for (uint64_t i = 0; i < count; ++i) {
      entries.push_back(central(pos, end, i));
    }
    if (pos != end)
      fail(detail::cat("central directory size ", cd_size, " does not match its ", count, " entries"));
    check_entries(entries);
    return entries;
  }

  // The uncompressed bytes of `e`, checked against its CRC-32 (`buf` holds inflated data).
  const uint8_t* contents(const Entry& e, std::vector<uint8_t>& buf) {
    const uint8_t* bytes = p_ + e.data;
    if (e.method == kDeflate) {
      size_t used = 0;
      buf = inflate_raw(bytes, e.csize, e.usize, detail::cat(what_, ": entry '", e.name, "'"), &used);
      if (used != e.csize)
        fail(detail::cat("entry '", e.name, "': its compressed data ends after ", used, " of its ", e.csize,
                         " bytes"));
      bytes = buf.data();
    }
    uint32_t crc = crc32(bytes, e.usize);
    if (crc != e.crc)
      fail(detail::cat("CRC-32 mismatch for entry '", e.name, "' (stored ", std::hex, e.crc, ", computed ", crc,
                       "): the archive is corrupt"));
    return bytes;
  }

 private:
  [[noreturn]] void fail(const std::string& msg) { throw Error(detail::cat(what_, ": ", msg)); }

  uint64_t find_eocd() {
    if (n_ < kEocdLen) fail("not a zip archive (too short for an end-of-central-directory record)");
    uint64_t lowest = n_ > kEocdLen + 0xFFFF ? n_ - kEocdLen - 0xFFFF : 0;
    for (uint64_t pos = n_ - kEocdLen;; --pos) {
      if (load_u32(p_ + pos) == kEocdSig && pos + kEocdLen + load_u16(p_ + pos + 20) == n_) return pos;
      if (pos == lowest) break;
    }
    fail("not a zip archive, or truncated: no end-of-central-directory record");
  }

  Entry central(uint64_t& pos, uint64_t end, uint64_t index) {
    if (end - pos < kCentralLen) fail(detail::cat("central directory entry ", index, " is truncated"));
    const uint8_t* h = p_ + pos;
    if (load_u32(h) != kCentralSig) fail(detail::cat("bad signature for central directory entry ", index));
    Entry e;
    e.flags = load_u16(h + 8);
    e.method = load_u16(h + 10);
    e.crc = load_u32(h + 16);
    e.csize = load_u32(h + 20);
    e.usize = load_u32(h + 24);
    uint64_t nlen = load_u16(h + 28), xlen = load_u16(h + 30), clen = load_u16(h + 32);
    uint64_t disk = load_u16(h + 34);
    e.local = load_u32(h + 42);
    if (end - pos - kCentralLen < nlen + xlen + clen)
      fail(detail::cat("central directory entry ", index, " is truncated"));
    e.name.assign(reinterpret_cast<const char*>(h + kCentralLen), nlen);
    zip64_extra(e, disk, h + kCentralLen + nlen, xlen);
    if (disk != 0) fail(detail::cat("entry '", e.name, "' is on another disk: split archives are not supported"));
    pos += kCentralLen + nlen + xlen + clen;
    return e;
  }

  // Replaces the 0xFFFFFFFF placeholders of `e` by the values of its zip64 extra field.
  void zip64_extra(Entry& e, uint64_t& disk, const uint8_t* x, uint64_t xlen) {
    bool need_u = e.usize == k32, need_c = e.csize == k32, need_l = e.local == k32, need_d = disk == k16;
    bool found = false;
    for (uint64_t i = 0; i < xlen;) {
      if (xlen - i < 4) fail(detail::cat("malformed extra field of entry '", e.name, "'"));
      uint16_t id = load_u16(x + i), sz = load_u16(x + i + 2);
      i += 4;
      if (sz > xlen - i) fail(detail::cat("extra field of entry '", e.name, "' runs past its end"));
      if (id == 0x0001) {
        found = true;
        const uint8_t* f = x + i;
        uint64_t left = sz;
        auto take = [&](bool need, size_t w, uint64_t& v) {
          if (!need) return;
          if (left < w) fail(detail::cat("zip64 extra field of entry '", e.name, "' is too short"));
          v = w == 8 ? load_u64(f) : load_u32(f);
          f += w;
          left -= w;
        };
        take(need_u, 8, e.usize);
        take(need_c, 8, e.csize);
        take(need_l, 8, e.local);
        take(need_d, 4, disk);
      }
      i += sz;
    }
    if ((need_u || need_c || need_l || need_d) && !found)
      fail(detail::cat("entry '", e.name, "' has 0xFFFFFFFF sizes or offset but no zip64 extra field"));
  }

  void check_entries(std::vector<Entry>& entries) {
    std::set<std::string> names;
    for (Entry& e : entries) {
      const std::string& nm = e.name;
      if (!names.insert(nm).second) fail(detail::cat("duplicate entry '", nm, "'"));
      if (e.flags & 0x41) fail(detail::cat("entry '", nm, "' is encrypted; encrypted archives are not supported"));
      if (e.method != kStored && e.method != kDeflate)
        fail(detail::cat("entry '", nm, "' uses compression method ", e.method, " (", method_name(e.method),
                         "); only stored and deflate entries are supported"));
      if (e.method == kStored && e.csize != e.usize)
        fail(detail::cat("stored entry '", nm, "' has compressed size ", e.csize, " != size ", e.usize));
      if (e.method == kDeflate && e.usize / kMaxDeflateRatio > e.csize)
        fail(detail::cat("entry '", nm, "' declares ", e.usize, " bytes from only ", e.csize,
                         " compressed bytes, beyond what deflate can produce"));
      // Local header, name and data all lie before the central directory.
      if (e.local > cd_off_ || cd_off_ - e.local < kLocalLen)
        fail(detail::cat("local header of entry '", nm, "' (offset ", e.local, ") lies outside the file data"));
      const uint8_t* h = p_ + e.local;
      if (load_u32(h) != kLocalSig) fail(detail::cat("bad local header signature for entry '", nm, "'"));
      uint64_t nlen = load_u16(h + 26), xlen = load_u16(h + 28);
      if (cd_off_ - e.local - kLocalLen < nlen + xlen)
        fail(detail::cat("local header of entry '", nm, "' runs into the central directory"));
      if (nlen != nm.size() || std::string(reinterpret_cast<const char*>(h + kLocalLen), nlen) != nm)
        fail(detail::cat("local header name of entry '", nm, "' does not match the central directory"));
      if (load_u16(h + 8) != e.method)
        fail(detail::cat("local header of entry '", nm, "' disagrees on the compression method"));
      e.data = e.local + kLocalLen + nlen + xlen;
      if (e.csize > cd_off_ - e.data)
        fail(detail::cat("data of entry '", nm, "' (", e.csize, " bytes at offset ", e.data,
                         ") runs past the start of the central directory (offset ", cd_off_, ")"));
    }
    // No two entries may share bytes: this bounds the total output by the file size.
    std::vector<const Entry*> order;
    for (auto& e : entries) order.push_back(&e);
    std::sort(order.begin(), order.end(), [](const Entry* a, const Entry* b) { return a->local < b->local; });
    for (size_t i = 1; i < order.size(); ++i)
      if (order[i]->local < order[i - 1]->data + order[i - 1]->csize)
        fail(detail::cat("entries '", order[i - 1]->name, "' and '", order[i]->name, "' overlap"));
  }

  const uint8_t* p_;
  uint64_t n_;
  const std::string& what_;
  uint64_t cd_off_ = 0;
};

}  // namespace

void read_zip(const uint8_t* data, size_t size, const std::string& what,
              const std::function<void(const std::string&, const uint8_t*, size_t)>& visit) {
  Reader r(data, size, what);
  std::vector<Entry> entries = r.directory();
  std::vector<uint8_t> buf;
  for (const Entry& e : entries) {
    const uint8_t* bytes = r.contents(e, buf);
    visit(e.name, bytes, e.usize);
    buf = {};
  }
}

void write_zip(ByteSink& out, const std::vector<ZipSource>& entries, bool force_zip64) {
  struct Written {
    uint32_t crc;
    uint64_t size, offset;
  };
  std::vector<Written> done;
  uint64_t pos = 0;
  auto emit = [&](const std::string& s) {
    out.write(s);
    pos += s.size();
  };
  constexpr uint16_t kDosDate = (0 << 9) | (1 << 5) | 1;  // 1980-01-01, 00:00
  for (const ZipSource& src : entries) {
    if (src.name.size() > 0xFFFF) throw Error("write_zip: entry name longer than 65535 bytes");
    uint32_t crc = 0;
    uint64_t size = 0;
    for (auto& [ptr, n] : src.pieces) {
      if (n) crc = crc32_update(crc, ptr, n);
      size += n;
    }
    bool z64 = force_zip64 || size >= k32 || pos >= k32;
    bool utf8 = std::any_of(src.name.begin(), src.name.end(), [](char c) { return static_cast<uint8_t>(c) >= 0x80; });
    std::string h;
    put_u32(h, kLocalSig);
    put_u16(h, z64 ? 45 : 20);
    put_u16(h, utf8 ? 0x0800 : 0);
    put_u16(h, kStored);
    put_u16(h, 0);
    put_u16(h, kDosDate);
    put_u32(h, crc);
    put_u32(h, z64 ? k32 : static_cast<uint32_t>(size));
    put_u32(h, z64 ? k32 : static_cast<uint32_t>(size));
    put_u16(h, static_cast<uint16_t>(src.name.size()));
    put_u16(h, z64 ? 20 : 0);
    h += src.name;
    if (z64) {
      put_u16(h, 0x0001);
      put_u16(h, 16);
      put_u64(h, size);
      put_u64(h, size);
    }
    done.push_back({crc, size, pos});
    emit(h);
    for (auto& [ptr, n] : src.pieces) {
      if (n) out.write(ptr, n);
      pos += n;
    }
  }
  uint64_t cd_off = pos;
  for (size_t i = 0; i < entries.size(); ++i) {
    const std::string& name = entries[i].name;
    const Written& w = done[i];
    bool big_size = force_zip64 || w.size >= k32, big_off = force_zip64 || w.offset >= k32;
    bool utf8 = std::any_of(name.begin(), name.end(), [](char c) { return static_cast<uint8_t>(c) >= 0x80; });
    std::string x;
    if (big_size) {
      put_u64(x, w.size);
      put_u64(x, w.size);
    }
    if (big_off) put_u64(x, w.offset);
    std::string h;
    put_u32(h, kCentralSig);
    put_u16(h, (3 << 8) | 45);  // made by: Unix, spec 4.5
    put_u16(h, big_size || big_off ? 45 : 20);
    put_u16(h, utf8 ? 0x0800 : 0);
    put_u16(h, kStored);
    put_u16(h, 0);
    put_u16(h, kDosDate);
    put_u32(h, w.crc);
    put_u32(h, big_size ? k32 : static_cast<uint32_t>(w.size));
    put_u32(h, big_size ? k32 : static_cast<uint32_t>(w.size));
    put_u16(h, static_cast<uint16_t>(name.size()));
    put_u16(h, static_cast<uint16_t>(x.empty() ? 0 : x.size() + 4));
    put_u16(h, 0);            // comment
    put_u16(h, 0);            // disk
    put_u16(h, 0);            // internal attributes
    put_u32(h, 0644u << 16);  // external attributes: a regular file, rw-r--r--
    put_u32(h, big_off ? k32 : static_cast<uint32_t>(w.offset));
    h += name;
    if (!x.empty()) {
      put_u16(h, 0x0001);
      put_u16(h, static_cast<uint16_t>(x.size()));
      h += x;
    }
    emit(h);
  }
  uint64_t cd_size = pos - cd_off, count = entries.size();
  bool z64 = force_zip64 || count >= k16 || cd_size >= k32 || cd_off >= k32;
  std::string e;
  if (z64) {
    uint64_t rec = pos;
    put_u32(e, kZip64EocdSig);
    put_u64(e, kZip64EocdLen - 12);
    put_u16(e, (3 << 8) | 45);
    put_u16(e, 45);
    put_u32(e, 0);
    put_u32(e, 0);
    put_u64(e, count);
    put_u64(e, count);
    put_u64(e, cd_size);
    put_u64(e, cd_off);
    put_u32(e, kZip64LocatorSig);
    put_u32(e, 0);
    put_u64(e, rec);
    put_u32(e, 1);
  }
  put_u32(e, kEocdSig);
  put_u16(e, 0);
  put_u16(e, 0);
  put_u16(e, z64 ? k16 : static_cast<uint16_t>(count));
  put_u16(e, z64 ? k16 : static_cast<uint16_t>(count));
  put_u32(e, z64 ? k32 : static_cast<uint32_t>(cd_size));
  put_u32(e, z64 ? k32 : static_cast<uint32_t>(cd_off));
  put_u16(e, 0);
  emit(e);
}

}  // namespace orbit::io
