#include "common/hash.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "testing/temp_dir.h"

namespace ward {
namespace {

std::span<const uint8_t> Bytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

TEST(Sha256, MatchesKnownVectors) {
  EXPECT_EQ(DigestHex(Sha256::Of("")),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(DigestHex(Sha256::Of("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(DigestHex(Sha256::Of("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST(Sha256, IncrementalUpdatesEqualOneShot) {
  Sha256 h;
  h.Update("a", 1);
  h.Update("", 0);
  h.Update("bc", 2);
  EXPECT_EQ(h.Finish(), Sha256::Of("abc"));
}

TEST(Sha256, ResetMakesTheObjectReusable) {
  Sha256 h;
  h.Update("garbage", 7);
  (void)h.Finish();
  h.Reset();
  h.Update("abc", 3);
  EXPECT_EQ(h.Finish(), Sha256::Of("abc"));
}

TEST(Sha256Fd, HashOfATempFileEqualsHashOfItsContent) {
  test::TempDir dir;
  // Larger than the read buffer and not a multiple of it, with every byte value.
  std::string content;
  for (int i = 0; i < 100'003; ++i) content += static_cast<char>((i * 7) & 0xFF);
  std::string file = dir.Sub("data.bin");
  test::WriteFile(file, content);

  int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  std::array<uint8_t, 4096> buf;
  Sha256 hasher;
  hasher.Update("stale state must be reset", 25);
  uint64_t bytes = 0;
  auto d = Sha256Fd(fd, buf, hasher, &bytes);
  ::close(fd);
  ASSERT_TRUE(d.has_value()) << d.error().ToString();
  EXPECT_EQ(*d, Sha256::Of(content));
  EXPECT_EQ(bytes, content.size());
}

TEST(Sha256Fd, EmptyFileHashesToTheEmptyDigest) {
  test::TempDir dir;
  std::string file = dir.Sub("empty");
  test::WriteFile(file, "");
  int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  std::array<uint8_t, 64> buf;
  Sha256 hasher;
  uint64_t bytes = 99;
  auto d = Sha256Fd(fd, buf, hasher, &bytes);
  ::close(fd);
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(*d, Sha256::Of(""));
  EXPECT_EQ(bytes, 0u);
}

TEST(Sha256Fd, ReadErrorIsReturned) {
  test::TempDir dir;
  int fd = ::open(dir.Str().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);  // read() -> EISDIR
  ASSERT_GE(fd, 0);
  std::array<uint8_t, 64> buf;
  Sha256 hasher;
  auto d = Sha256Fd(fd, buf, hasher);
  ::close(fd);
  ASSERT_FALSE(d.has_value());
  EXPECT_NE(d.error().message().find("read"), std::string::npos);
}

TEST(HmacSha256, MatchesRfc4231TestCase1) {
  std::vector<uint8_t> key(20, 0x0b);
  auto h = HmacSha256::Create(key);
  ASSERT_TRUE(h.has_value()) << h.error().ToString();
  EXPECT_EQ(DigestHex((*h)->Compute("Hi There")),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
}

TEST(HmacSha256, MatchesRfc4231TestCase2AndRepeatsComputations) {
  auto h = HmacSha256::Create(Bytes("Jefe"));
  ASSERT_TRUE(h.has_value()) << h.error().ToString();
  const char* expected = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";
  EXPECT_EQ(DigestHex((*h)->Compute("what do ya want for nothing?")), expected);
  // The key survives a computation with other data in between.
  EXPECT_NE(DigestHex((*h)->Compute("something else")), expected);
  EXPECT_EQ(DigestHex((*h)->Compute("what do ya want for nothing?")), expected);
}

TEST(RandomBytes, FillsBuffersWithDifferentOutputs) {
  std::array<uint8_t, 32> a{};
  std::array<uint8_t, 32> b{};
  ASSERT_TRUE(RandomBytes(a).ok());
  ASSERT_TRUE(RandomBytes(b).ok());
  EXPECT_NE(a, b);
  EXPECT_NE(a, (std::array<uint8_t, 32>{}));
  EXPECT_NE(b, (std::array<uint8_t, 32>{}));
}

TEST(RandomBytes, FillsLargeBuffersCompletely) {
  // getrandom may return short reads above 256 bytes; the tail must still be filled.
  std::vector<uint8_t> big(1 << 20, 0);
  ASSERT_TRUE(RandomBytes(big).ok());
  size_t zeros_in_tail = 0;
  for (size_t i = big.size() - 4096; i < big.size(); ++i) zeros_in_tail += big[i] == 0;
  EXPECT_LT(zeros_in_tail, 100u);  // ~16 expected by chance
}

}  // namespace
}  // namespace ward
