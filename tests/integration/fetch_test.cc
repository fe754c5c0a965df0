// Client::fetch against real nodes: an inbox of more than one retrieve
// page, a fetch that stops after its first page, and a full page of 1 KiB
// messages in one answer. A page is kept in the
// client's LocalStore (marked seen) before the next page is asked for, and a
// kept message is never fetched as new again, so a fetch that fails part way
// must still hand back what it kept.
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "client/client.h"
#include "swarm/rpc.h"
#include "test_support.h"

namespace onionswarm {
namespace {

namespace rpc = swarm::rpc;

class Fetch : public test::DevnetSuite<Fetch, 4, 4> {
 protected:
  // A client on home (created with a fresh identity when new); cancelled,
  // when given, is its ClientOptions::cancelled and progress its progress.
  std::unique_ptr<client::Client> open(const std::string& home, std::function<bool()> cancelled = {},
                                       std::function<void(std::string_view)> progress = {}) {
    return test::open_client(net_->network_file(), home, {0, std::move(cancelled), std::move(progress)});
  }

  // The account of the client on home (creating its identity if new).
  swarm::AccountId account_of(const std::string& home) {
    auto c = open(home);
    return c ? c->account_id() : swarm::AccountId{};
  }

  test::TempDir homes_;
};

TEST_F(Fetch, MessagesKeptBeforeAFailedPageAreReturned) {
  constexpr size_t kExtra = 10;
  constexpr size_t kSent = rpc::kDefaultRetrieveLimit + kExtra;  // two pages
  const swarm::AccountId reader_id = account_of(homes_ / "reader");
  auto sender = open(homes_ / "sender");
  ASSERT_TRUE(sender);
  std::set<std::string> sent;
  for (size_t i = 0; i < kSent; ++i) {
    const std::string text = "page test " + std::to_string(i);
    auto r = sender->send(reader_id, text);
    ASSERT_TRUE(r.ok()) << r.status().to_string();
    sent.insert(text);
  }

  // The reader stops (as on Ctrl-C) once its first request is under way:
  // the first page is answered and kept, the second page's request is
  // cancelled before it is sent.
  bool cancel = false;
  auto reader = open(homes_ / "reader", [&] { return cancel; },
                     [&](std::string_view line) {
                       if (line == "waiting for the swarm…") cancel = true;
                     });
  ASSERT_TRUE(reader);
  auto first = reader->fetch();
  ASSERT_TRUE(first.ok()) << "the first page was kept, yet: " << first.status().to_string();
  EXPECT_TRUE(cancel);
  EXPECT_EQ(first->size(), size_t(rpc::kDefaultRetrieveLimit));
  auto kept = reader->store().list();
  ASSERT_TRUE(kept.ok());
  EXPECT_EQ(kept->size(), first->size()) << "kept messages that were not returned";

  // Nothing kept now: the cancelled request is an error again.
  auto none = reader->fetch();
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.status().code(), Code::kUnavailable);

  // A later fetch resumes and returns the rest; each message once.
  reader.reset();
  auto again = open(homes_ / "reader");
  ASSERT_TRUE(again);
  auto rest = again->fetch();
  ASSERT_TRUE(rest.ok()) << rest.status().to_string();
  EXPECT_EQ(rest->size(), kExtra);
  std::multiset<std::string> got;
  for (const auto* batch : {&*first, &*rest})
    for (const auto& e : *batch) {
      EXPECT_TRUE(e.verified) << e.error;
      got.insert(e.text);
    }
  EXPECT_EQ(std::set<std::string>(got.begin(), got.end()), sent);
  EXPECT_EQ(got.size(), sent.size()) << "a message was returned twice";
}

// A default page of 1 KiB messages travels as one binary retrieve answer
// (padded to the largest bucket): the fetch makes exactly one request.
TEST_F(Fetch, AFullPageOfOneKibMessagesComesInOneRequest) {
  const swarm::AccountId reader_id = account_of(homes_ / "reader");
  auto sender = open(homes_ / "sender");
  ASSERT_TRUE(sender);
  std::set<std::string> sent;
  for (size_t i = 0; i < rpc::kDefaultRetrieveLimit; ++i) {
    std::string text = std::to_string(i) + " ";
    text.resize(1024, 'x');
    ASSERT_TRUE(sender->send(reader_id, text).ok()) << i;
    sent.insert(text);
  }
  size_t requests = 0;
  auto reader = open(homes_ / "reader", {}, [&](std::string_view line) {
    if (line == "waiting for the swarm…") ++requests;
  });
  ASSERT_TRUE(reader);
  auto got = reader->fetch();
  ASSERT_TRUE(got.ok()) << got.status().to_string();
  EXPECT_EQ(test::verified_texts(*got), sent);
  EXPECT_EQ(requests, 1u) << "a page of 100 messages of 1 KiB took more than one answer";
}

}  // namespace
}  // namespace onionswarm
