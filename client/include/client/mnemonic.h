// Recovery phrase: a 32-byte Ed25519 seed written as words.
// Encoding: seed || checksum, where checksum = first 2 bytes of
// BLAKE2b-256("onionswarm/phrase/v1" || seed); the 34 bytes are cut into 17
// big-endian 16-bit values, each written as a proquint (consonant, vowel,
// consonant, vowel, consonant; consonants "bdfghjklmnprstvz", vowels "aiou").
// Words are separated by single spaces. Parsing is case-insensitive,
// tolerates extra whitespace and '-' separators, and checks the checksum.
#pragma once

#include <string>
#include <string_view>

#include "onion/bytes.h"
#include "onion/crypto.h"
#include "onion/status.h"

namespace onionswarm::client {

inline constexpr size_t kPhraseWords = 17;

// seed32 must be exactly 32 bytes; any other size gives an empty string.
std::string seed_to_phrase(ByteView seed32);
// kInvalidArgument for a wrong word count, an invalid word or a bad checksum
// (the message says which).
Result<crypto::SecretBytes> phrase_to_seed(std::string_view phrase);

}  // namespace onionswarm::client
