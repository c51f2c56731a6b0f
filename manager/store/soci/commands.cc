// Commands queued for agents: queued, taken (delivered once), completed.
#include <fmt/format.h>

#include "manager/store/soci/soci_store.h"

namespace ward::manager::soci_backend {

namespace {

constexpr const char* kCommandCols =
    "id, tenant_id, agent_id, name, args, result, state, created_at";
constexpr const char* kCommandSig = "ssssssii";
Command CommandFrom(const Row& r) {
  Command c;
  c.id = r.S(0);
  c.tenant_id = r.S(1);
  c.agent_id = r.S(2);
  c.name = r.S(3);
  c.args = ParseJson(r.S(4), json::object());
  c.result = r.Null(5) ? json() : ParseJson(r.S(5), json());
  long long st = r.I(6);
  c.state = st == 1   ? CommandState::kDelivered
            : st == 2 ? CommandState::kCompleted
            : st == 3 ? CommandState::kFailed
                      : CommandState::kQueued;
  c.created_at = FromMicros(r.I(7));
  return c;
}

}  // namespace

Status SociStore::QueueCommand(const Command& c) {
  WARD_RETURN_IF_ERROR(CheckId("command.id", c.id));
  WARD_RETURN_IF_ERROR(CheckLen("command.name", c.name, kNameMax));
  return RunStatus("queue command", true, [&](soci::session& sql) -> Status {
    WARD_RETURN_IF_ERROR(RequireRow(sql, "agents", c.tenant_id, c.agent_id, "agent"));
    Params p;
    std::optional<std::string> result;
    if (!c.result.is_null()) result = DumpJson(c.result);
    Exec(sql,
         fmt::format("INSERT INTO commands ({}) VALUES ({}, {}, {}, {}, {}, {}, {}, {})",
                     kCommandCols, p.S(c.id), p.S(c.tenant_id), p.S(c.agent_id), p.S(c.name),
                     p.S(DumpJson(c.args)), p.OptS(result), p.I(StateCode(c.state)),
                     p.I(Micros(c.created_at))),
         p);
    return Status::Ok();
  });
}

Result<std::vector<Command>> SociStore::TakeCommands(const std::string& tenant_id,
                                                     const std::string& agent_id) {
  return Run("take commands", true, [&](soci::session& sql) -> Result<std::vector<Command>> {
    WARD_RETURN_IF_ERROR(RequireRow(sql, "agents", tenant_id, agent_id, "agent"));
    Params p;
    std::vector<Command> out;
    Select(sql,
           fmt::format("SELECT {} FROM commands WHERE tenant_id = {} AND agent_id = {} AND "
                       "state = 0 ORDER BY created_at, id{}",
                       kCommandCols, p.S(tenant_id), p.S(agent_id), ForUpdate()),
           p, kCommandSig, [&](const Row& r) { out.push_back(CommandFrom(r)); });
    for (auto& c : out) {
      Params u;
      Exec(sql,
           fmt::format("UPDATE commands SET state = 1 WHERE tenant_id = {} AND id = {}",
                       u.S(tenant_id), u.S(c.id)),
           u);
      c.state = CommandState::kDelivered;
    }
    return out;
  });
}

Status SociStore::CompleteCommand(const std::string& tenant_id, const std::string& agent_id,
                                  const std::string& id, bool ok, const nlohmann::json& result) {
  return RunStatus("complete command", true, [&](soci::session& sql) -> Status {
    Params q;
    long long n = SelectInt(sql,
                            fmt::format("SELECT COUNT(*) FROM commands WHERE tenant_id = {} AND "
                                        "agent_id = {} AND id = {}",
                                        q.S(tenant_id), q.S(agent_id), q.S(id)),
                            q, 0);
    if (n == 0) return NotFound("no such command");
    Params p;
    Exec(
        sql,
        fmt::format("UPDATE commands SET state = {}, result = {} WHERE tenant_id = {} AND "
                    "agent_id = {} AND id = {}",
                    p.I(ok ? 2 : 3), p.S(DumpJson(result)), p.S(tenant_id), p.S(agent_id), p.S(id)),
        p);
    return Status::Ok();
  });
}

Result<std::vector<Command>> SociStore::ListCommands(const std::string& tenant_id,
                                                     const std::string& agent_id) {
  return Run("list commands", false, [&](soci::session& sql) -> Result<std::vector<Command>> {
    WARD_RETURN_IF_ERROR(RequireRow(sql, "agents", tenant_id, agent_id, "agent"));
    Params p;
    std::vector<Command> out;
    Select(sql,
           fmt::format("SELECT {} FROM commands WHERE tenant_id = {} AND agent_id = {} ORDER BY "
                       "created_at, id",
                       kCommandCols, p.S(tenant_id), p.S(agent_id)),
           p, kCommandSig, [&](const Row& r) { out.push_back(CommandFrom(r)); });
    return out;
  });
}

int SociStore::StateCode(CommandState s) {
  switch (s) {
    case CommandState::kQueued:
      return 0;
    case CommandState::kDelivered:
      return 1;
    case CommandState::kCompleted:
      return 2;
    case CommandState::kFailed:
      return 3;
  }
  return 0;
}

}  // namespace ward::manager::soci_backend
