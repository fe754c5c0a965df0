// Fuzzes what a client reads back from a destination: rpc::parse_response,
// then every parse_*_answer on the "ok" object (a hostile node picks the
// shape), and swarm_from_json on the swarm of a wrong-swarm error; and the
// binary retrieve answer, which must re-encode to exactly the bytes it was
// parsed from (the format has one encoding per answer).
#include <cstddef>
#include <cstdint>
#include <variant>

#include "fuzz_keys.h"
#include "swarm/rpc.h"

namespace rpc = onionswarm::swarm::rpc;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const onionswarm::ByteView bytes(data, size);
  if (rpc::is_binary_retrieve_answer(bytes)) {
    auto page = rpc::parse_retrieve_answer_binary(bytes);
    if (page.ok() && rpc::retrieve_response_binary(*page) != onionswarm::Bytes(bytes.begin(), bytes.end()))
      onionswarm::fuzz::harness_bug("a binary retrieve answer does not re-encode to its own bytes");
    return 0;
  }
  auto resp = rpc::parse_response(onionswarm::ByteView(data, size));
  if (!resp.ok()) return 0;
  if (const auto* ok = std::get_if<nlohmann::json>(&*resp)) {
    (void)rpc::parse_store_answer(*ok);
    (void)rpc::parse_retrieve_answer(*ok);
    (void)rpc::parse_delete_answer(*ok);
    (void)rpc::parse_info_answer(*ok);
    (void)rpc::parse_get_swarm_answer(*ok);
    (void)rpc::swarm_from_json(*ok);
  } else {
    const auto& err = std::get<rpc::ErrorAnswer>(*resp);
    if (err.status.ok()) onionswarm::fuzz::harness_bug("an error answer parsed to an ok status");
  }
  return 0;
}
