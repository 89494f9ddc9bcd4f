// .npz = zip container (zip.h) of .npy entries (npy.h): entry "x.npy" <-> key "x".
#include "engine/io/npz.h"

#include "engine/io/array_util.h"
#include "engine/io/file_io.h"
#include "engine/io/npy.h"
#include "engine/io/zip.h"

namespace orbit {

namespace {

void write_npz_to(io::ByteSink& out, const std::map<std::string, Tensor>& arrays, const std::string& who) {
  std::vector<Tensor> hosts;
  std::vector<std::string> headers;
  hosts.reserve(arrays.size());
  headers.reserve(arrays.size());
  std::vector<io::ZipSource> entries;
  for (auto& [key, t] : arrays) {
    hosts.push_back(io::host_tensor(t, detail::cat(who, ": array '", key, "'")));
    headers.push_back(io::npy_header(hosts.back()));
    io::ZipSource src{key + ".npy", {{headers.back().data(), headers.back().size()}}};
    if (hosts.back().nbytes() > 0) src.pieces.emplace_back(hosts.back().raw(), hosts.back().nbytes());
    entries.push_back(std::move(src));
  }
  io::write_zip(out, entries);
}

}  // namespace

std::map<std::string, Tensor> parse_npz(const uint8_t* data, size_t size, const std::string& what) {
  std::map<std::string, Tensor> out;
  io::read_zip(data, size, what, [&](const std::string& name, const uint8_t* bytes, size_t n) {
    if (name.size() < 4 || name.compare(name.size() - 4, 4, ".npy") != 0)
      throw Error(detail::cat(what, ": entry '", name, "' is not a .npy array"));
    out[name.substr(0, name.size() - 4)] = parse_npy(bytes, n, detail::cat(what, ": entry '", name, "'"));
  });
  return out;
}

std::vector<uint8_t> encode_npz(const std::map<std::string, Tensor>& arrays) {
  io::VectorSink sink;
  write_npz_to(sink, arrays, "encode_npz");
  return std::move(sink.bytes);
}

std::map<std::string, Tensor> read_npz(const std::string& path) {
  std::vector<uint8_t> bytes = io::read_file(path, "read_npz");
  return parse_npz(bytes.data(), bytes.size(), "read_npz: '" + path + "'");
}

void write_npz(const std::string& path, const std::map<std::string, Tensor>& arrays) {
  std::string who = "write_npz: '" + path + "'";
  io::AtomicFile f(path, "write_npz");
  write_npz_to(f, arrays, who);
  f.commit();
}

}  // namespace orbit
