// Catch2 v2 main for the unit and live test programs.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
