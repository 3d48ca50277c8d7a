#include <gtest/gtest.h>

#include <ember/ember.h>

using namespace ember;

TEST(Smoke, AddEval) {
  array a({1.0f, 2.0f, 3.0f});
  array b = a + 1.0f;
  EXPECT_EQ(b.dtype(), float32);
  b.eval();
  EXPECT_FLOAT_EQ(b.data<float>()[2], 4.0f);
}
