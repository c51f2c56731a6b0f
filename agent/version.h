#pragma once
#include <string_view>
namespace ward::agent {
inline constexpr std::string_view kVersion = "0.1.0";
}
