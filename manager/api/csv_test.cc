#include "manager/api/csv.h"

#include <gtest/gtest.h>

namespace ward::manager {
namespace {

std::string Field(std::string_view v) {
  std::string out;
  AppendCsvField(out, v);
  return out;
}

TEST(Csv, PlainFieldsStayAsTheyAre) {
  EXPECT_EQ(Field("/var/www/index.html"), "/var/www/index.html");
  EXPECT_EQ(Field(""), "");
  EXPECT_EQ(Field("a b;c"), "a b;c");
}

TEST(Csv, QuotesCommasQuotesAndLineBreaksPerRfc4180) {
  EXPECT_EQ(Field("a,b"), "\"a,b\"");
  EXPECT_EQ(Field("say \"hi\""), "\"say \"\"hi\"\"\"");
  EXPECT_EQ(Field("two\nlines"), "\"two\nlines\"");
  EXPECT_EQ(Field("cr\rhere"), "\"cr\rhere\"");
}

TEST(Csv, PrefixesFormulaStartsSoSpreadsheetsShowText) {
  EXPECT_EQ(Field("=HYPERLINK(\"http://x\")"), "\"'=HYPERLINK(\"\"http://x\"\")\"");
  EXPECT_EQ(Field("+1"), "\"'+1\"");
  EXPECT_EQ(Field("-2+3"), "\"'-2+3\"");
  EXPECT_EQ(Field("@SUM(A1)"), "\"'@SUM(A1)\"");
  EXPECT_EQ(Field("\tx"), "\"'\tx\"");
  EXPECT_EQ(Field("a=b"), "a=b") << "only a leading character is a formula";
}

TEST(Csv, RecordsEndWithCrLf) {
  std::string out;
  AppendCsvRecord(out, {"a", "b,c", "=1"});
  EXPECT_EQ(out, "a,\"b,c\",\"'=1\"\r\n");
}

}  // namespace
}  // namespace ward::manager
