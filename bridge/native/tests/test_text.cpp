// UTF-8 checks behind the protocol's string limits (they count code points).
#include <catch2/catch.hpp>

#include <cstring>
#include <string>

#include "text.hpp"

TEST_CASE("utf8_length counts code points and refuses malformed UTF-8", "[text]") {
    CHECK(lpm::utf8_length("") == 0u);
    CHECK(lpm::utf8_length("smiles warmly") == 13u);
    CHECK(lpm::utf8_length("caf\xC3\xA9") == 4u);                 // é: 2 bytes
    CHECK(lpm::utf8_length("\xE2\x82\xAC\xF0\x9F\x98\x80") == 2u);  // € and an emoji
    CHECK_FALSE(lpm::utf8_length("\xC3").has_value());              // truncated
    CHECK_FALSE(lpm::utf8_length("\xC0\xAF").has_value());          // overlong '/'
    CHECK_FALSE(lpm::utf8_length("\xED\xA0\x80").has_value());      // a surrogate
    CHECK_FALSE(lpm::utf8_length("\xFF").has_value());
}

TEST_CASE("copy_truncated never cuts a character in half", "[text]") {
    char out[5];
    lpm::copy_truncated("abcdef", out, sizeof(out));
    CHECK(std::string(out) == "abcd");
    lpm::copy_truncated("abc\xC3\xA9", out, sizeof(out));  // "abcé" needs 5 bytes + NUL
    CHECK(std::string(out) == "abc");
    lpm::copy_truncated("ok", out, sizeof(out));
    CHECK(std::string(out) == "ok");
    char one[1] = {'x'};
    lpm::copy_truncated("abc", one, 1);
    CHECK(one[0] == '\0');
}
