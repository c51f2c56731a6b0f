// The module lists and the command tables agree: the runtime list (builtin.h) and the schema list
// (schemas.h) name the same modules in the same order, every command a manager may queue has a
// handler in this agent and every handler a declared command, and every argument schema is one
// common/json_schema.h understands.
#include "agent/modules/builtin.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "agent/modules/schemas.h"
#include "agent/transport/managed.h"
#include "common/json_schema.h"

namespace ward::agent {
namespace {

TEST(ModuleLists, SchemasAndRuntimeNameTheSameModulesInTheSameOrder) {
  auto specs = BuiltinModules();
  auto schemas = ModuleSchemas();
  ASSERT_EQ(specs.size(), schemas.size());
  for (size_t i = 0; i < specs.size(); ++i) {
    EXPECT_EQ(specs[i].name, schemas[i].name);
    EXPECT_EQ(specs[i].validate, schemas[i].validate);
    EXPECT_EQ(specs[i].enabled, schemas[i].enabled);
    EXPECT_EQ(specs[i].commands.size(), schemas[i].commands.size());
  }
}

TEST(CommandTable, EverySchemaCommandHasAHandlerAndEveryHandlerACommand) {
  std::set<std::string> declared;
  for (const CommandSpec* c : AllCommands()) {
    EXPECT_TRUE(declared.insert(std::string(c->name)).second) << c->name << " declared twice";
  }
  ASSERT_FALSE(declared.empty());
  std::set<std::string> routed;
  for (const auto& r :
       transport::ManagedAgent::CommandTable(BuiltinModules(), BuiltinCommandHandlers())) {
    EXPECT_TRUE(r.run != nullptr || r.own != nullptr) << r.spec->name;
    EXPECT_TRUE(routed.insert(std::string(r.spec->name)).second) << r.spec->name;
  }
  EXPECT_EQ(routed, declared);
  // No handler without a declaration (it could never be queued), one handler per command, and
  // each module's commands are named after it.
  std::set<std::string> handled;
  for (const CommandHandler& h : BuiltinCommandHandlers()) {
    EXPECT_TRUE(declared.count(std::string(h.name)))
        << "handler " << h.name << " has no CommandSpec";
    EXPECT_TRUE(handled.insert(std::string(h.name)).second) << h.name << " handled twice";
  }
  for (const ModuleSpec& m : BuiltinModules()) {
    for (const CommandSpec& c : m.commands) {
      EXPECT_TRUE(c.name.starts_with(std::string(m.name) + ".")) << c.name;
    }
  }
  for (const char* name : {"policy.reload", "integrity.check", "antimalware.scan"}) {
    EXPECT_TRUE(declared.count(name)) << name;
  }
}

TEST(CommandTable, ArgumentSchemasAreUnderstoodAndAcceptNoArguments) {
  for (const CommandSpec* c : AllCommands()) {
    auto schema = nlohmann::json::parse(c->args_schema, nullptr, false);
    ASSERT_FALSE(schema.is_discarded()) << c->name << ": not JSON";
    EXPECT_TRUE(CheckJsonSchema(schema).ok())
        << c->name << ": " << CheckJsonSchema(schema).ToString();
    EXPECT_EQ(schema.value("type", ""), "object") << c->name;
    EXPECT_FALSE(ValidateJson(schema, nlohmann::json::object(), "args").has_value()) << c->name;
    EXPECT_TRUE(ValidateJson(schema, {{"no_such_argument", 1}}, "args").has_value()) << c->name;
    EXPECT_FALSE(c->summary.empty()) << c->name;
  }
}

TEST(CommandTable, AntimalwareScanTakesAbsolutePaths) {
  const CommandSpec* scan = FindCommand("antimalware.scan");
  ASSERT_NE(scan, nullptr);
  auto schema = nlohmann::json::parse(scan->args_schema);
  EXPECT_FALSE(ValidateJson(schema, {{"paths", {"/srv", "/var/www"}}}, "args").has_value());
  auto relative = ValidateJson(schema, {{"paths", {"/srv", "srv"}}}, "args");
  ASSERT_TRUE(relative.has_value());
  EXPECT_EQ(relative->field, "args.paths[1]");
  EXPECT_EQ(relative->message, "args.paths[1]: expected an absolute path");
  auto empty = ValidateJson(schema, {{"paths", nlohmann::json::array()}}, "args");
  ASSERT_TRUE(empty.has_value());
  EXPECT_EQ(empty->field, "args.paths");
  auto not_a_list = ValidateJson(schema, {{"paths", "/srv"}}, "args");
  ASSERT_TRUE(not_a_list.has_value());
  EXPECT_EQ(not_a_list->field, "args.paths");
  nlohmann::json many = nlohmann::json::array();
  for (int i = 0; i < 1001; ++i) many.push_back("/x");
  EXPECT_TRUE(ValidateJson(schema, {{"paths", many}}, "args").has_value());
  EXPECT_TRUE(ValidateJson(schema, {{"paths", {"/" + std::string(5000, 'a')}}}, "args"));
}

}  // namespace
}  // namespace ward::agent
