// The CPU caching allocator: statistics, limits, out-of-memory errors. Every op here runs
// on the CPU (host memory), whatever the default device is.
#include <gtest/gtest.h>

#include <ember/ember.h>

using namespace ember;

TEST(Memory, ActivePeakAndCache) {
  clear_cache();
  size_t before = get_active_memory();
  {
    array a = zeros({1 << 20}, float32, Device::cpu);
    a.eval();
    EXPECT_GE(get_active_memory(), before + (4u << 20));
    EXPECT_GE(get_peak_memory(), get_active_memory());
  }
  EXPECT_EQ(get_active_memory(), before);
  EXPECT_GE(get_cache_memory(), 4u << 20) << "freed buffers go to the cache";
  // The next allocation of that size reuses the cached block.
  size_t cached = get_cache_memory();
  {
    array b = ones({1 << 20}, float32, Device::cpu);
    b.eval();
    EXPECT_LT(get_cache_memory(), cached);
  }
  clear_cache();
  EXPECT_EQ(get_cache_memory(), 0u);
  reset_peak_memory();
  EXPECT_EQ(get_peak_memory(), get_active_memory());
}

TEST(Memory, LimitThrowsOutOfMemoryAndRecovers) {
  clear_cache();
  size_t old = set_memory_limit(get_active_memory() + (64u << 20));
  try {
    array big = zeros({1 << 28}, float32, Device::cpu);  // 1 GiB
    big.eval();
    FAIL() << "expected out_of_memory";
  } catch (const out_of_memory& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("1073741824 bytes"), std::string::npos) << msg;
    EXPECT_NE(msg.find("in use"), std::string::npos) << msg;
  }
  // The next op still works.
  array small = multiply(ones({16}, float32, Device::cpu), array(2.0f), Device::cpu);
  small.eval();
  EXPECT_EQ(small.data<float>()[15], 2.0f);
  set_memory_limit(old);
  EXPECT_EQ(get_memory_limit(), old);
}

TEST(Memory, LimitFreesCacheBeforeFailing) {
  clear_cache();
  {
    array a = zeros({1 << 22}, float32, Device::cpu);  // 16 MiB, then cached
    a.eval();
  }
  ASSERT_GE(get_cache_memory(), 16u << 20);
  size_t old = set_memory_limit(get_active_memory() + (20u << 20));
  {
    array b = zeros({3 << 21}, float32, Device::cpu);  // 24 MiB: over the limit only if the cache counted
    EXPECT_THROW(b.eval(), out_of_memory);
    array c = zeros({1 << 21}, float32, Device::cpu);  // 8 MiB fits
    EXPECT_NO_THROW(c.eval());
  }
  set_memory_limit(old);
}

TEST(Memory, CacheLimit) {
  clear_cache();
  size_t old = set_cache_limit(1 << 20);
  {
    array a = zeros({1 << 22}, float32, Device::cpu);
    a.eval();
  }
  EXPECT_LE(get_cache_memory(), 1u << 20);
  set_cache_limit(old);
}
