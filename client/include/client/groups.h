// Closed groups over the network: create, invite, accept, send, fetch, and
// the admin changes (add, remove, promote, rename), on top of a Client.
// Crypto and byte formats are in client/group.h; the node's rules in
// swarm/group.h; the protocol in docs/PROTOCOL.md, "Closed groups".
//
// Local state (LocalStore settings, JSON): "group/<id>" per joined group
// (roster, keys per generation, credential seeds, the group key when admin,
// the control head, members per generation, who announced joining),
// "group-invite/<id>" per pending invitation, and the indexes "groups" and
// "group-invites". Secrets in it are as safe as HOME (mode 0700), like the
// identity key.
//
// Changes are compare-and-set on the group's control log at the group's
// sequencer node (the only member of its swarm that takes control stores):
// on kConflict the change is re-read and re-applied on top of the new head
// (bounded retries with a random back-off), so two admins changing the
// group at once both land, one after the other, or the second fails cleanly
// when its change no longer applies. An acknowledged change is final.
//
// Thread safety: as Client (one thread).
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "client/client.h"
#include "client/group.h"

namespace onionswarm::client {

inline constexpr int kMaxGroupChangeAttempts = 8;
// A poll reads the group's control log from this long before the stored
// timestamp of the head it knew, not the whole log (PROTOCOL.md 15.3).
inline constexpr uint64_t kDefaultLogLookbackMs = 5 * 60 * 1000;
// A poll reads the whole log, not a window, when this client's last read
// of the whole log is older than this: an entry a window missed (stamped
// more than the look-back before the head, PROTOCOL.md 15.3) that nothing
// else brought in is taken within this long.
inline constexpr uint64_t kDefaultWholeLogEveryMs = 60 * 60 * 1000;

struct GroupInfo {
  swarm::AccountId id;
  std::string name;
  std::vector<swarm::AccountId> members;  // the roster (invited or joined)
  std::vector<swarm::AccountId> admins;
  std::set<swarm::AccountId> joined;       // announced their acceptance (admins count as joined)
  uint64_t generation = 0;
  uint64_t head_seq = 0;
  crypto::Hash head_hash;
  bool holds_group_key = false;
  bool removed = false;  // no longer in the roster (or cannot read the latest state)
  std::string role() const { return removed ? "removed" : holds_group_key ? "admin" : "member"; }
};

struct PendingInvite {
  swarm::AccountId group;
  std::string name;
  std::string from;  // the inviting admin
};

class Groups {
 public:
  // log_lookback_ms: see kDefaultLogLookbackMs (tests set 0 to see that a
  // poll reads only from the head on); whole_log_every_ms: see
  // kDefaultWholeLogEveryMs.
  explicit Groups(Client& client, uint64_t log_lookback_ms = kDefaultLogLookbackMs,
                  uint64_t whole_log_every_ms = kDefaultWholeLogEveryMs)
      : client_(client), log_lookback_ms_(log_lookback_ms), whole_log_every_ms_(whole_log_every_ms) {}

  // Creates the group (this account its first admin) and invites invitees.
  // kInvalidArgument before anything is sent when the roster would exceed
  // kMaxMembers or the name is bad.
  Result<swarm::AccountId> create(const std::string& name, const std::vector<swarm::AccountId>& invitees);

  // Fetches the 1:1 inbox (keeping ordinary messages there, returned in
  // *fresh_direct if given) and records invitations and admin grants.
  Status fetch_direct(std::vector<InboxEntry>* fresh_direct = nullptr);
  // Records the invitations and admin grants among control messages.
  Status handle_control(const std::vector<InboxEntry>& control);
  Result<std::vector<PendingInvite>> invites() const;
  // Joins: reads the group's log with the invited credential, checks this
  // account is in the roster, announces the join. kNotFound without an invite.
  Status accept(const swarm::AccountId& group);
  // Drops the invitation (kNotFound without one) and posts a leave notice
  // to the group, so that an admin's next fetch takes this account out of
  // the roster and rotates the group key. The invitation is dropped even
  // when the notice cannot be stored (a fake invitation, no network);
  // *notice, if given, says whether the group was told.
  Status decline(const swarm::AccountId& group, Status* notice = nullptr);

  Result<SendResult> send(const swarm::AccountId& group, std::string_view text);
  // New messages of every joined group (syncing each group's log first);
  // admins also act on members' leave notices (removing them). As with
  // Client::fetch, every message kept is returned: a failure after some
  // were kept ends the fetch early (ok, the next one resumes); an error
  // means no new message was kept.
  Result<std::vector<InboxEntry>> fetch();

  Result<std::vector<GroupInfo>> list() const;  // local state, no network
  Result<GroupInfo> info(const swarm::AccountId& group, bool sync = true);
  std::optional<std::string> name_of(const std::string& group_id) const;

  Status add(const swarm::AccountId& group, const std::vector<swarm::AccountId>& accounts);
  Status remove(const swarm::AccountId& group, const std::vector<swarm::AccountId>& accounts);
  // Only a member who joined (an admin holds the group key for good). When
  // the join is not known yet, the groups' logs are fetched first: new
  // messages kept by that go to *fetched if given.
  Status promote(const swarm::AccountId& group, const swarm::AccountId& account,
                 std::vector<InboxEntry>* fetched = nullptr);
  Status rename(const swarm::AccountId& group, const std::string& name);
  Status leave(const swarm::AccountId& group);

  // Keys and credentials this client holds for group, every generation
  // (tests: show that a removed member holds nothing that opens new messages).
  Result<std::vector<crypto::SecretBytes>> held_keys(const swarm::AccountId& group) const;
  // The member credential this client would sign with (tests).
  Result<crypto::Ed25519KeyPair> credential(const swarm::AccountId& group) const;

 private:
  struct Record;
  Result<Record> load(const swarm::AccountId& group) const;
  Status save(const Record& r);
  // Where a read of the group's control log goes (PROTOCOL.md 15.3).
  // kAnyMember: a random member of the group's swarm, so that the reads of
  // a large group spread over its swarm; the sequencer instead when that
  // member refuses the credential, has no log, or lacks the head this
  // client knew (it has not taken the newest entries yet): polls and
  // `info`. kSequencer: before anything is stored (a change must extend the
  // sequencer's head; a message must be sealed with the newest key).
  // kSequencerWholeLog: the whole log at the sequencer, never a window:
  // after a member refused this client's credential, a poll found a
  // message it cannot place, or the sequencer refused a change as a
  // conflict (the window may have missed an entry).
  enum class ReadAt { kAnyMember, kSequencer, kSequencerWholeLog };
  // Reads the group's control log into r; keep: save r afterwards. Unless
  // kSequencerWholeLog, a group whose head this client knows has only the
  // entries stored since shortly before that head read, and the whole log
  // at the sequencer only when they do not continue from that head.
  Status sync_control(Record& r, bool keep, ReadAt at);
  // Takes chain's states into r: the whole canonical chain (from_genesis),
  // or r's head and what follows it.
  Status take_chain(Record& r, const std::vector<swarm::group::ControlEntry>& chain, uint64_t head_stored_ms,
                    bool from_genesis, bool keep);
  // After a member refused r's credential: reads the whole log at the
  // sequencer (keep: save r); kUnauthorized when r's account is out of the
  // roster.
  Status resync(Record& r, bool keep);
  // The state an invitation gives (no network); kNotFound without one.
  Result<Record> invited_record(const swarm::AccountId& group) const;
  Status drop_invite(const swarm::AccountId& group);
  // Applies mutate to the synced state and stores the result (bounded
  // retries on kConflict). *members_before: the roster before the change.
  Status change(const swarm::AccountId& group, const std::function<Status(group::GroupState&, bool& rotate)>& mutate,
                std::vector<swarm::AccountId>* members_before, const std::string& needs_admin_what);
  Status store_control(Record& r, const crypto::Ed25519KeyPair& group_key, uint64_t seq, const crypto::Hash& prev,
                       uint64_t generation, const group::GroupState& state, const crypto::SecretBytes& key,
                       ByteView keys);
  Status send_invite(const Record& r, const swarm::AccountId& to);
  // keep: save r when a refused credential made it read the log again.
  Status store_group_message(Record& r, group::Kind kind, std::string_view text, SendResult* out, bool keep);
  Status forget(const swarm::AccountId& group);

  Client& client_;
  uint64_t log_lookback_ms_;
  uint64_t whole_log_every_ms_;
};

}  // namespace onionswarm::client
