#pragma once
namespace orbit {
const char* version();
}
