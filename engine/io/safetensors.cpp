// safetensors reading (strict: every offset, size and key checked) and writing; see safetensors.h.
#include "engine/io/safetensors.h"

#include <algorithm>
#include <cstring>
#include <string_view>

#include "engine/io/array_util.h"
#include "engine/io/bytes.h"
#include "engine/io/file_io.h"
#include "engine/io/json.h"

namespace orbit {

namespace {

using io::Json;

// Same limit as the reference implementation: larger headers are corrupt or hostile.
constexpr uint64_t kMaxHeader = 100'000'000;
constexpr char kMetadataKey[] = "__metadata__";

const char* st_dtype(DType dt) {
  switch (dt) {
    case DType::f32: return "F32";
    case DType::f64: return "F64";
    case DType::i32: return "I32";
    case DType::i64: return "I64";
  }
  throw Error("safetensors: corrupt dtype");
}

struct Info {
  std::string name;
  DType dtype;
  Shape shape;
  uint64_t begin = 0, end = 0;
};

struct Reader {
  const std::string& what;

  [[noreturn]] void fail(const std::string& m) const { throw Error(detail::cat(what, ": ", m)); }

  void metadata(const Json& j, std::map<std::string, std::string>& out) const {
    if (j.kind != Json::Kind::object) fail("__metadata__ is not an object mapping strings to strings");
    for (auto& [k, v] : j.members) {
      if (v.kind != Json::Kind::string) fail(detail::cat("__metadata__ value of \"", k, "\" is not a string"));
      out[k] = v.text;
    }
  }

  Info tensor(const std::string& name, const Json& j, uint64_t buffer) const {
    auto where = [&] { return detail::cat("tensor \"", name, "\""); };
    if (j.kind != Json::Kind::object) fail(where() + " is not an object");
    for (auto& m : j.members)
      if (m.first != "dtype" && m.first != "shape" && m.first != "data_offsets")
        fail(detail::cat(where(), " has an unexpected field \"", m.first, "\""));
    const Json* dt = j.find("dtype");
    const Json* shape = j.find("shape");
    const Json* offs = j.find("data_offsets");
    if (!dt || !shape || !offs) fail(where() + " needs dtype, shape and data_offsets");

    Info info;
    info.name = name;
    if (dt->kind != Json::Kind::string) fail(where() + ": dtype is not a string");
    if (dt->text == "F32") info.dtype = DType::f32;
    else if (dt->text == "F64") info.dtype = DType::f64;
    else if (dt->text == "I32") info.dtype = DType::i32;
    else if (dt->text == "I64") info.dtype = DType::i64;
    else
      fail(detail::cat(where(), " has dtype \"", dt->text, "\", which orbit does not support (F32, F64, I32, I64)"));

    if (shape->kind != Json::Kind::array) fail(where() + ": shape is not an array");
    if (shape->items.size() > static_cast<size_t>(Shape::kMaxRank))
      fail(detail::cat(where(), " has ", shape->items.size(), " dimensions; orbit supports at most ", Shape::kMaxRank));
    std::vector<uint64_t> dims;
    for (const Json& d : shape->items) {
      uint64_t v;
      if (!io::json_uint(d, io::kMaxFileDim, v))
        fail(detail::cat(where(), ": shape entry ", d.kind == Json::Kind::number ? d.text : "(not a number)",
                         " is not a non-negative integer <= 2^48"));
      dims.push_back(v);
    }
    uint64_t nbytes = 0;
    info.shape = io::checked_shape(dims, dtype_size(info.dtype), detail::cat(what, ": ", where()), nbytes);

    if (offs->kind != Json::Kind::array || offs->items.size() != 2 ||
        !io::json_uint(offs->items[0], UINT64_MAX, info.begin) || !io::json_uint(offs->items[1], UINT64_MAX, info.end))
      fail(where() + ": data_offsets is not a pair of non-negative integers");
    if (info.begin > info.end)
      fail(detail::cat(where(), ": data_offsets [", info.begin, ", ", info.end, "] are out of order"));
    if (info.end > buffer)
      fail(detail::cat(where(), ": data_offsets [", info.begin, ", ", info.end, "] run past the end of the ", buffer,
                       "-byte data buffer"));
    if (info.end - info.begin != nbytes)
      fail(detail::cat(where(), ": data_offsets span ", info.end - info.begin, " bytes but ", dt->text, " ",
                       info.shape.str(), " needs ", nbytes));
    return info;
  }

  // Tensors must tile the data buffer exactly: no overlaps, no holes, nothing left over.
  void layout(std::vector<Info>& infos, uint64_t buffer) const {
    std::sort(infos.begin(), infos.end(),
              [](const Info& a, const Info& b) { return a.begin != b.begin ? a.begin < b.begin : a.end < b.end; });
    uint64_t cursor = 0;
    const Info* prev = nullptr;
    for (const Info& t : infos) {
      if (t.begin < cursor)
        fail(detail::cat("tensors \"", prev->name, "\" and \"", t.name, "\" overlap (data_offsets [", prev->begin,
                         ", ", prev->end, "] and [", t.begin, ", ", t.end, "])"));
      if (t.begin > cursor)
        fail(detail::cat("bytes [", cursor, ", ", t.begin, ") of the data buffer belong to no tensor"));
      cursor = t.end;
      prev = &t;
    }
    if (cursor != buffer)
      fail(detail::cat(buffer - cursor, " bytes at the end of the data buffer belong to no tensor"));
  }
};

void write_to(io::ByteSink& out, const std::map<std::string, Tensor>& tensors,
              const std::map<std::string, std::string>& metadata, const std::string& who) {
  std::vector<std::pair<std::string, Tensor>> order;
  for (auto& [name, t] : tensors) {
    if (name == kMetadataKey) throw Error(who + ": a tensor may not be named \"__metadata__\"");
    if (!io::valid_utf8(name)) throw Error(detail::cat(who, ": tensor name is not valid UTF-8"));
    order.emplace_back(name, io::host_tensor(t, detail::cat(who, ": tensor \"", name, "\"")));
  }
  std::stable_sort(order.begin(), order.end(), [](const auto& a, const auto& b) {
    return dtype_size(a.second.dtype()) > dtype_size(b.second.dtype());
  });
  std::string h = "{";
  if (!metadata.empty()) {
    h += detail::cat("\"", kMetadataKey, "\":{");
    bool first = true;
    for (auto& [k, v] : metadata) {
      if (!io::valid_utf8(k) || !io::valid_utf8(v))
        throw Error(detail::cat(who, ": metadata keys and values must be valid UTF-8"));
      h += detail::cat(first ? "" : ",", io::json_quote(k), ":", io::json_quote(v));
      first = false;
    }
    h += "}";
  }
  uint64_t offset = 0;
  for (auto& [name, t] : order) {
    if (h.size() > 1) h += ",";
    h += detail::cat(io::json_quote(name), ":{\"dtype\":\"", st_dtype(t.dtype()), "\",\"shape\":[");
    for (int i = 0; i < t.rank(); ++i) h += detail::cat(i ? "," : "", t.shape()[i]);
    h += detail::cat("],\"data_offsets\":[", offset, ",", offset + t.nbytes(), "]}");
    offset += t.nbytes();
  }
  h += "}";
  h.append((8 - h.size() % 8) % 8, ' ');  // the data starts 8-byte aligned
  std::string len;
  io::put_u64(len, h.size());
  out.write(len);
  out.write(h);
  for (auto& [name, t] : order)
    if (t.nbytes() > 0) out.write(t.raw(), t.nbytes());
}

}  // namespace

void parse_safetensors(const uint8_t* data, size_t size, const std::string& what,
                       std::map<std::string, Tensor>& tensors, std::map<std::string, std::string>& metadata) {
  Reader r{what};
  if (size < 8) r.fail(detail::cat("the file is ", size, " bytes, too short for the 8-byte header length"));
  uint64_t hlen = io::load_u64(data);
  if (hlen > kMaxHeader) r.fail(detail::cat("header length ", hlen, " is absurd (limit ", kMaxHeader, ")"));
  if (hlen > size - 8)
    r.fail(detail::cat("header length ", hlen, " runs past the end of the file (", size - 8,
                       " bytes follow the length field)"));
  std::string_view text(reinterpret_cast<const char*>(data + 8), hlen);
  if (text.empty() || text[0] != '{') r.fail("the header does not start with '{'");
  Json header = io::parse_json(text, what + ": header");
  if (header.kind != Json::Kind::object) r.fail("the header is not a JSON object");

  uint64_t buffer = size - 8 - hlen;
  const uint8_t* base = data + 8 + hlen;
  std::map<std::string, std::string> meta;
  std::vector<Info> infos;
  for (auto& [key, value] : header.members) {
    if (key == kMetadataKey) r.metadata(value, meta);
    else infos.push_back(r.tensor(key, value, buffer));
  }
  r.layout(infos, buffer);

  std::map<std::string, Tensor> out;
  for (const Info& info : infos) {
    Tensor t = Tensor::empty(info.shape, info.dtype);
    if (info.end > info.begin) std::memcpy(t.raw(), base + info.begin, info.end - info.begin);
    out.emplace(info.name, std::move(t));
  }
  tensors = std::move(out);
  metadata = std::move(meta);
}

std::vector<uint8_t> encode_safetensors(const std::map<std::string, Tensor>& tensors,
                                        const std::map<std::string, std::string>& metadata) {
  io::VectorSink sink;
  write_to(sink, tensors, metadata, "encode_safetensors");
  return std::move(sink.bytes);
}

void read_safetensors(const std::string& path, std::map<std::string, Tensor>& tensors,
                      std::map<std::string, std::string>& metadata) {
  std::vector<uint8_t> bytes = io::read_file(path, "read_safetensors");
  parse_safetensors(bytes.data(), bytes.size(), "read_safetensors: '" + path + "'", tensors, metadata);
}

void write_safetensors(const std::string& path, const std::map<std::string, Tensor>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  io::AtomicFile f(path, "write_safetensors");
  write_to(f, tensors, metadata, "write_safetensors: '" + path + "'");
  f.commit();
}

}  // namespace orbit
