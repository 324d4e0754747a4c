# Writes OUT, a C++ file defining certfleet::api::OpenApiDocument() (openapi.h) as the text of
# IN (openapi.json), so that certfleetd serves the document without reading files at run time.
# Run by the build (src/api/CMakeLists.txt) whenever openapi.json changes.
file(READ "${IN}" document)
string(FIND "${document}" ")cf_openapi\"" clash)
if(NOT clash EQUAL -1)
  message(FATAL_ERROR "${IN} contains the raw string delimiter )cf_openapi\"")
endif()
file(WRITE "${OUT}" "// Generated from src/api/openapi.json by src/api/openapi_embed.cmake: edit the JSON.
#include \"api/openapi.h\"

namespace certfleet::api {

std::string_view OpenApiDocument() {
  static constexpr std::string_view kDocument = R\"cf_openapi(${document})cf_openapi\";
  return kDocument;
}

}  // namespace certfleet::api
")
