// Raw DEFLATE decoder (stored, fixed and dynamic Huffman blocks) with canonical-code decoding.
#include "engine/io/inflate.h"

#include <algorithm>
#include <array>

#include "engine/error.h"

namespace orbit::io {

namespace {

constexpr int kMaxBits = 15;
constexpr int kMaxLitLen = 286, kMaxDist = 30, kFixedLitLen = 288;

struct Huffman {
  std::array<uint16_t, kMaxBits + 1> count{};  // codes of each length
  std::array<uint16_t, kFixedLitLen> symbol{};  // symbols in canonical order
};

// Builds a canonical code from code lengths. Returns 0 for a complete code, > 0 for an
// incomplete one, < 0 for an over-subscribed one.
int build(Huffman& h, const uint16_t* length, int n) {
  h.count.fill(0);
  for (int s = 0; s < n; ++s) h.count[length[s]]++;
  if (h.count[0] == n) return 0;  // no codes: decoding anything with it fails
  int left = 1;
  for (int len = 1; len <= kMaxBits; ++len) {
    left <<= 1;
    left -= h.count[len];
    if (left < 0) return left;
  }
  std::array<uint16_t, kMaxBits + 1> offs{};
  for (int len = 1; len < kMaxBits; ++len) offs[len + 1] = offs[len] + h.count[len];
  for (int s = 0; s < n; ++s)
    if (length[s] != 0) h.symbol[offs[length[s]]++] = static_cast<uint16_t>(s);
  return left;
}

constexpr uint16_t kLenBase[29] = {3,  4,  5,  6,  7,  8,  9,  10, 11,  13,  15,  17,  19,  23, 27,
                                   31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258};
constexpr uint16_t kLenExtra[29] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2,
                                    2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0};
constexpr uint16_t kDistBase[30] = {1,   2,   3,   4,   5,   7,    9,    13,   17,   25,   33,   49,   65,    97,    129,
                                    193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577};
constexpr uint16_t kDistExtra[30] = {0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6,
                                     6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13};

class Inflater {
 public:
  Inflater(const uint8_t* in, size_t n, size_t limit, const std::string& what)
      : in_(in), n_(n), limit_(limit), what_(what) {
    // Grows as real output appears; the reservation is bounded by the input actually present.
    out_.reserve(std::min<size_t>(limit, n * 4 + 1024));
  }

  std::vector<uint8_t> run(size_t* used) {
    int last;
    do {
      last = bits(1);
      switch (bits(2)) {
        case 0: stored(); break;
        case 1: fixed(); break;
        case 2: dynamic(); break;
        default: fail("invalid block type 3");
      }
    } while (!last);
    if (out_.size() != limit_)
      fail(detail::cat("decompressed to ", out_.size(), " bytes, but the archive declares ", limit_));
    if (used) *used = pos_;  // bits() reads a byte only when it needs one of its bits
    return std::move(out_);
  }

 private:
  [[noreturn]] void fail(const std::string& msg) {
    throw Error(detail::cat(what_, ": corrupt compressed data: ", msg));
  }

  int bits(int need) {
    uint32_t val = bitbuf_;
    while (bitcnt_ < need) {
      if (pos_ == n_) fail("the stream is truncated");
      val |= static_cast<uint32_t>(in_[pos_++]) << bitcnt_;
      bitcnt_ += 8;
    }
    bitbuf_ = val >> need;
    bitcnt_ -= need;
    return static_cast<int>(val & ((1u << need) - 1));
  }

  void room(size_t k) {
    if (k > limit_ - out_.size()) fail(detail::cat("output exceeds the declared size of ", limit_, " bytes"));
  }

  void stored() {
    bitbuf_ = 0;
    bitcnt_ = 0;
    if (n_ - pos_ < 4) fail("the stream is truncated");
    unsigned len = in_[pos_] | (in_[pos_ + 1] << 8);
    unsigned nlen = in_[pos_ + 2] | (in_[pos_ + 3] << 8);
    pos_ += 4;
    if (len != (~nlen & 0xFFFFu)) fail("stored block length check failed");
    if (n_ - pos_ < len) fail("the stream is truncated");
    room(len);
    out_.insert(out_.end(), in_ + pos_, in_ + pos_ + len);
    pos_ += len;
  }

  int decode(const Huffman& h) {
    int code = 0, first = 0, index = 0;
    for (int len = 1; len <= kMaxBits; ++len) {
      code |= bits(1);
      int count = h.count[len];
      if (code - count < first) return h.symbol[index + (code - first)];
      index += count;
      first += count;
      first <<= 1;
      code <<= 1;
    }
    fail("invalid Huffman code");
  }

  void codes(const Huffman& lencode, const Huffman& distcode) {
    for (;;) {
      int sym = decode(lencode);
      if (sym < 256) {
        room(1);
        out_.push_back(static_cast<uint8_t>(sym));
      } else if (sym == 256) {
        return;
      } else {
        sym -= 257;
        if (sym >= 29) fail("invalid length symbol");
        size_t len = kLenBase[sym] + bits(kLenExtra[sym]);
        int dsym = decode(distcode);
        if (dsym >= 30) fail("invalid distance symbol");
        size_t dist = kDistBase[dsym] + bits(kDistExtra[dsym]);
        if (dist > out_.size()) fail("distance points before the start of the output");
        room(len);
        for (size_t i = 0; i < len; ++i) out_.push_back(out_[out_.size() - dist]);
      }
    }
  }

  void fixed() {
    static const std::array<Huffman, 2> tables = [] {
      std::array<Huffman, 2> t;
      uint16_t len[kFixedLitLen];
      int s = 0;
      for (; s < 144; ++s) len[s] = 8;
      for (; s < 256; ++s) len[s] = 9;
      for (; s < 280; ++s) len[s] = 7;
      for (; s < kFixedLitLen; ++s) len[s] = 8;
      build(t[0], len, kFixedLitLen);
      for (s = 0; s < kMaxDist; ++s) len[s] = 5;
      build(t[1], len, kMaxDist);
      return t;
    }();
    codes(tables[0], tables[1]);
  }

  void dynamic() {
    static constexpr uint8_t kOrder[19] = {16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15};
    int nlen = bits(5) + 257, ndist = bits(5) + 1, ncode = bits(4) + 4;
    if (nlen > kMaxLitLen || ndist > kMaxDist) fail("too many length or distance codes");
    uint16_t lengths[kMaxLitLen + kMaxDist] = {};
    for (int i = 0; i < ncode; ++i) lengths[kOrder[i]] = static_cast<uint16_t>(bits(3));
    Huffman lencode, distcode;
    if (build(lencode, lengths, 19) != 0) fail("incomplete or over-subscribed code-length code");
    int index = 0;
    while (index < nlen + ndist) {
      int sym = decode(lencode);
      if (sym < 16) {
        lengths[index++] = static_cast<uint16_t>(sym);
        continue;
      }
      uint16_t len = 0;
      int rep;
      if (sym == 16) {
        if (index == 0) fail("repeat with no previous length");
        len = lengths[index - 1];
        rep = 3 + bits(2);
      } else if (sym == 17) {
        rep = 3 + bits(3);
      } else {
        rep = 11 + bits(7);
      }
      if (index + rep > nlen + ndist) fail("too many code lengths");
      while (rep--) lengths[index++] = len;
    }
    if (lengths[256] == 0) fail("no end-of-block code");
    int err = build(lencode, lengths, nlen);
    if (err < 0 || (err > 0 && nlen != lencode.count[0] + lencode.count[1]))
      fail("incomplete or over-subscribed literal/length code");
    err = build(distcode, lengths + nlen, ndist);
    if (err < 0 || (err > 0 && ndist != distcode.count[0] + distcode.count[1]))
      fail("incomplete or over-subscribed distance code");
    codes(lencode, distcode);
  }

  const uint8_t* in_;
  size_t n_, pos_ = 0;
  uint32_t bitbuf_ = 0;
  int bitcnt_ = 0;
  size_t limit_;
  const std::string& what_;
  std::vector<uint8_t> out_;
};

}  // namespace

std::vector<uint8_t> inflate_raw(const uint8_t* in, size_t n, size_t expected_size, const std::string& what,
                                 size_t* used) {
  return Inflater(in, n, expected_size, what).run(used);
}

}  // namespace orbit::io
