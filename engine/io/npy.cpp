// .npy reading (strict header parsing, every size checked against the bytes present) and writing.
#include "engine/io/npy.h"

#include <cstring>
#include <string_view>

#include "engine/io/array_util.h"
#include "engine/io/bytes.h"
#include "engine/io/file_io.h"

namespace orbit {

namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicLen = 6;

// "'abc\x01'" for messages: header text with non-printable bytes escaped, cut at `limit` bytes.
std::string printable(std::string_view s, size_t limit = 120) {
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < s.size() && i < limit; ++i) {
    auto c = static_cast<uint8_t>(s[i]);
    if (c >= 0x20 && c < 0x7F) {
      out += static_cast<char>(c);
    } else {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  if (s.size() > limit) out += "...";
  return out;
}

const char* kind_name(char kind) {
  switch (kind) {
    case 'b': return "bool";
    case 'i': return "signed integer";
    case 'u': return "unsigned integer";
    case 'f': return "floating point";
    case 'c': return "complex";
    case 'U': return "unicode string";
    case 'S': case 'a': return "byte string";
    case 'V': return "void/structured";
    case 'M': return "datetime64";
    case 'm': return "timedelta64";
    default: return "unknown";
  }
}

// The orbit dtype of a NumPy descr such as '<f4'; throws naming what is unsupported.
DType dtype_of_descr(const std::string& descr, const std::string& what) {
  auto fail = [&](const std::string& m) { return Error(detail::cat(what, ": ", m)); };
  if (descr.empty()) throw fail("the header's descr is empty");
  char order = descr[0];
  bool has_order = order == '<' || order == '>' || order == '|' || order == '=';
  std::string body = has_order ? descr.substr(1) : descr;
  if (!body.empty() && body[0] == 'O')
    throw fail(detail::cat("object arrays (dtype '", descr,
                           "', pickled Python objects) are not supported: orbit never unpickles; "
                           "save a numeric array instead"));
  DType dt;
  if (body == "f4") dt = DType::f32;
  else if (body == "f8") dt = DType::f64;
  else if (body == "i4") dt = DType::i32;
  else if (body == "i8") dt = DType::i64;
  else
    throw fail(detail::cat("dtype '", descr, "' (", kind_name(body.empty() ? '?' : body[0]), ", '", body,
                           "') is not supported: orbit reads float32 ('<f4'), float64 ('<f8'), int32 ('<i4') "
                           "and int64 ('<i8'); convert with arr.astype(...)"));
  if (order == '>')
    throw fail(detail::cat("big-endian dtype '", descr, "' is not supported: convert with arr.astype('<",
                           body, "')"));
  if (!has_order) throw fail(detail::cat("dtype '", descr, "' has no byte-order character"));
  return dt;
}

struct NpyHeader {
  std::string descr;
  bool fortran = false;
  std::vector<uint64_t> dims;
};

// Parses the Python dict literal of a .npy header, e.g.
// "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }" followed by padding.
class HeaderParser {
 public:
  HeaderParser(std::string_view s, const std::string& what) : s_(s), what_(what) {}

  NpyHeader parse() {
    NpyHeader h;
    bool seen_descr = false, seen_fortran = false, seen_shape = false;
    ws();
    expect('{');
    for (;;) {
      ws();
      if (at('}')) {
        ++i_;
        break;
      }
      std::string key = str();
      ws();
      expect(':');
      ws();
      if (key == "descr") {
        once(seen_descr, key);
        if (at('[')) fail("structured dtypes (a list descr) are not supported");
        if (!at('\'') && !at('"')) fail("descr is not a string");
        h.descr = str();
      } else if (key == "fortran_order") {
        once(seen_fortran, key);
        if (s_.substr(i_, 4) == "True") h.fortran = true, i_ += 4;
        else if (s_.substr(i_, 5) == "False") h.fortran = false, i_ += 5;
        else fail("fortran_order is not True or False");
      } else if (key == "shape") {
        once(seen_shape, key);
        h.dims = tuple();
      } else {
        fail(detail::cat("unexpected key '", key, "'"));
      }
      ws();
      if (at(',')) {
        ++i_;
        continue;
      }
      if (at('}')) {
        ++i_;
        break;
      }
      fail("expected ',' or '}'");
    }
    ws();
    if (i_ != s_.size()) fail("unexpected text after the dict");
    if (!seen_descr) fail("missing key 'descr'");
    if (!seen_fortran) fail("missing key 'fortran_order'");
    if (!seen_shape) fail("missing key 'shape'");
    return h;
  }

 private:
  [[noreturn]] void fail(const std::string& msg) {
    throw Error(detail::cat(what_, ": malformed .npy header (", msg, " at byte ", i_, "): \"", printable(s_), "\""));
  }
  bool at(char c) const { return i_ < s_.size() && s_[i_] == c; }
  void expect(char c) {
    if (!at(c)) fail(detail::cat("expected '", c, "'"));
    ++i_;
  }
  void ws() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r')) ++i_;
  }
  void once(bool& seen, const std::string& key) {
    if (seen) fail(detail::cat("duplicate key '", key, "'"));
    seen = true;
  }

  std::string str() {
    if (!at('\'') && !at('"')) fail("expected a quoted string");
    char q = s_[i_++];
    size_t start = i_;
    while (i_ < s_.size() && s_[i_] != q) {
      if (s_[i_] == '\\' || s_[i_] == '\n') fail("unsupported character in a string");
      ++i_;
    }
    if (i_ == s_.size()) fail("unterminated string");
    return std::string(s_.substr(start, i_++ - start));
  }

  std::vector<uint64_t> tuple() {
    if (at('[')) fail("shape is a list, not a tuple");
    expect('(');
    std::vector<uint64_t> dims;
    bool comma = false;
    ws();
    if (at(')')) {
      ++i_;
      return dims;
    }
    for (;;) {
      ws();
      if (at('-')) fail("negative dimension");
      size_t start = i_;
      uint64_t v = 0;
      bool huge = false;
      while (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9') {
        v = v * 10 + static_cast<uint64_t>(s_[i_] - '0');
        if (v > io::kMaxFileDim) huge = true, v = io::kMaxFileDim;  // stays bounded; rejected below
        ++i_;
      }
      if (i_ == start) fail("expected a dimension");
      if (huge)
        throw Error(detail::cat(what_, ": shape dimension ", s_.substr(start, i_ - start),
                                " is absurdly large (limit 2^48)"));
      if (at('L')) ++i_;  // Python 2 long literal
      dims.push_back(v);
      if (dims.size() > static_cast<size_t>(Shape::kMaxRank))
        throw Error(detail::cat(what_, ": the array has more than ", Shape::kMaxRank,
                                " dimensions; orbit supports at most ", Shape::kMaxRank));
      ws();
      if (at(',')) {
        ++i_;
        comma = true;
        ws();
        if (at(')')) {
          ++i_;
          return dims;
        }
        continue;
      }
      if (at(')')) {
        ++i_;
        if (dims.size() == 1 && !comma) fail("shape (n) is not a tuple; expected (n,)");
        return dims;
      }
      fail("expected ',' or ')' in shape");
    }
  }

  std::string_view s_;
  const std::string& what_;
  size_t i_ = 0;
};

const char* descr_of(DType dt) {
  switch (dt) {
    case DType::f32: return "<f4";
    case DType::f64: return "<f8";
    case DType::i32: return "<i4";
    case DType::i64: return "<i8";
  }
  throw Error("npy: corrupt dtype");
}

void write_npy_to(io::ByteSink& out, const Tensor& host) {
  out.write(io::npy_header(host));
  if (host.nbytes() > 0) out.write(host.raw(), host.nbytes());
}

}  // namespace

std::string io::npy_header(const Tensor& t) {
  std::string dict = detail::cat("{'descr': '", descr_of(t.dtype()), "', 'fortran_order': False, 'shape': (");
  for (int i = 0; i < t.rank(); ++i) dict += detail::cat(i ? ", " : "", t.shape()[i]);
  dict += t.rank() == 1 ? ",), }" : "), }";
  // Pad with spaces and end with '\n' so the array data starts at a multiple of 64 bytes.
  auto padded = [&](size_t preamble) {
    size_t total = preamble + dict.size() + 1;
    return dict + std::string((64 - total % 64) % 64, ' ') + "\n";
  };
  std::string header = padded(10);
  std::string out(kMagic, kMagicLen);
  if (header.size() <= 0xFFFF) {
    out += '\x01';
    out += '\x00';
    put_u16(out, static_cast<uint16_t>(header.size()));
  } else {  // never for rank <= 6, kept for completeness
    header = padded(12);
    out += '\x02';
    out += '\x00';
    put_u32(out, static_cast<uint32_t>(header.size()));
  }
  return out + header;
}

Tensor parse_npy(const uint8_t* data, size_t size, const std::string& what) {
  auto fail = [&](const std::string& m) { return Error(detail::cat(what, ": ", m)); };
  if (size < kMagicLen + 2 || std::memcmp(data, kMagic, kMagicLen) != 0)
    throw fail("not a .npy file (bad magic: expected \\x93NUMPY)");
  int major = data[6], minor = data[7];
  if (major < 1 || major > 3 || minor != 0)
    throw fail(detail::cat("unsupported .npy format version ", major, ".", minor, " (orbit reads 1.0, 2.0 and 3.0)"));
  size_t preamble = major == 1 ? 10 : 12;
  if (size < preamble) throw fail("the file ends inside the header length field");
  uint64_t hlen = major == 1 ? io::load_u16(data + 8) : io::load_u32(data + 8);
  if (hlen > size - preamble)
    throw fail(detail::cat("header length ", hlen, " runs past the end of the file (", size - preamble,
                           " bytes follow the length field)"));
  std::string_view text(reinterpret_cast<const char*>(data + preamble), hlen);
  NpyHeader h = HeaderParser(text, what).parse();
  DType dt = dtype_of_descr(h.descr, what);
  if (h.fortran)
    throw fail("Fortran-order arrays are not supported: save with np.ascontiguousarray");
  uint64_t nbytes = 0;
  Shape shape = io::checked_shape(h.dims, dtype_size(dt), what, nbytes);
  size_t offset = preamble + hlen, avail = size - offset;
  if (nbytes > avail)
    throw fail(detail::cat("array data is truncated: shape ", shape.str(), " ", dtype_name(dt), " needs ", nbytes,
                           " bytes, the file has ", avail));
  if (nbytes < avail)
    throw fail(detail::cat(avail - nbytes, " unexpected bytes after the array data (shape ", shape.str(), " ",
                           dtype_name(dt), " is ", nbytes, " bytes)"));
  Tensor t = Tensor::empty(shape, dt);
  if (nbytes > 0) std::memcpy(t.raw(), data + offset, nbytes);
  return t;
}

std::vector<uint8_t> encode_npy(const Tensor& t) {
  io::VectorSink sink;
  write_npy_to(sink, io::host_tensor(t, "encode_npy"));
  return std::move(sink.bytes);
}

Tensor read_npy(const std::string& path) {
  std::vector<uint8_t> bytes = io::read_file(path, "read_npy");
  return parse_npy(bytes.data(), bytes.size(), "read_npy: '" + path + "'");
}

void write_npy(const std::string& path, const Tensor& t) {
  Tensor host = io::host_tensor(t, "write_npy: '" + path + "'");
  io::AtomicFile f(path, "write_npy");
  write_npy_to(f, host);
  f.commit();
}

}  // namespace orbit
