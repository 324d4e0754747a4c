#include <gtest/gtest.h>

#include "policy/tags.h"

namespace certfleet::policy {
namespace {

using model::Tags;

TEST(TagsAllowTest, Table) {
  struct Case {
    Tags principal, secret;
    bool allowed;
  };
  const Case cases[] = {
      {{}, {}, true},
      {{{"env", "prod"}}, {}, true},
      {{{"env", "prod"}}, {{"env", "prod"}}, true},
      {{{"env", "prod"}, {"team", "web"}}, {{"env", "prod"}}, true},
      {{{"env", "prod"}, {"team", "web"}}, {{"env", "prod"}, {"team", "web"}}, true},
      {{}, {{"env", "prod"}}, false},
      {{{"env", "dev"}}, {{"env", "prod"}}, false},
      {{{"env", "Prod"}}, {{"env", "prod"}}, false},  // values are exact
      {{{"Env", "prod"}}, {{"env", "prod"}}, false},  // keys are exact
      {{{"env", "prod"}}, {{"env", "prod"}, {"team", "web"}}, false},
      {{{"env", ""}}, {{"env", ""}}, true},
      {{}, {{"env", ""}}, false},  // an empty value is still a required tag
  };
  for (const Case& c : cases) {
    Decision d = TagsAllow(c.principal, c.secret);
    EXPECT_EQ(d.allowed, c.allowed);
    if (!c.allowed) {
      EXPECT_EQ(d.rule, "tags.mismatch");
      EXPECT_FALSE(d.message.empty());
    }
  }
}

TEST(TagsAllowTest, MessageNamesTheKeyNotTheValue) {
  Decision d = TagsAllow({{"env", "dev"}}, {{"env", "prod-secret-value"}});
  ASSERT_FALSE(d.allowed);
  EXPECT_NE(d.message.find("\"env\""), std::string::npos) << d.message;
  EXPECT_EQ(d.message.find("prod-secret-value"), std::string::npos) << d.message;
}

TEST(SelectorMatchesTest, Table) {
  struct Case {
    Tags selector, agent;
    bool matches;
  };
  const Case cases[] = {
      {{}, {}, false},                 // an empty selector matches nothing
      {{}, {{"env", "prod"}}, false},  // not even a tagged agent
      {{{"env", "prod"}}, {{"env", "prod"}}, true},
      {{{"env", "prod"}}, {{"env", "prod"}, {"role", "web"}}, true},
      {{{"env", "prod"}, {"role", "web"}}, {{"env", "prod"}, {"role", "web"}}, true},
      {{{"env", "prod"}, {"role", "web"}}, {{"env", "prod"}}, false},
      {{{"env", "prod"}}, {{"env", "dev"}}, false},
      {{{"env", "prod"}}, {}, false},
  };
  for (const Case& c : cases) EXPECT_EQ(SelectorMatches(c.selector, c.agent), c.matches);
}

}  // namespace
}  // namespace certfleet::policy
