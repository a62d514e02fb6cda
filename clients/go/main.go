// aifarm-go-client: a Go program on stubs generated from proto/ that talks to a running controller.
//
// It creates a script task, watches it to completion over the TaskService.WatchTask server stream,
// then asks for an unknown task and reads the NOT_FOUND status with its google.rpc.ErrorInfo detail
// (sent in the grpc-status-details-bin trailer). One line per step; exit 1 on any failed expectation.
//
// Build: bash scripts/build_clients.sh. Run:
//
//	clients/go/build/bin/aifarm-go-client -addr 127.0.0.1:50051 -api-key KEY
//
// (or AIFARM_ADDR / AIFARM_API_KEY in the environment).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	aifarmv1 "aifarm.dev/gen/aifarm/v1"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

func envOr(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}

func fail(format string, args ...interface{}) {
	fmt.Printf("FAIL "+format+"\n", args...)
	os.Exit(1)
}

func main() {
	addr := flag.String("addr", envOr("AIFARM_ADDR", "127.0.0.1:50051"), "controller gRPC address (env AIFARM_ADDR)")
	apiKey := flag.String("api-key", os.Getenv("AIFARM_API_KEY"), "API key (env AIFARM_API_KEY)")
	timeout := flag.Int("timeout", 60, "seconds the whole run may take")
	flag.Parse()
	if *apiKey == "" {
		fail("no API key: pass -api-key or set AIFARM_API_KEY")
	}

	dialCtx, cancelDial := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancelDial()
	// grpc-go 1.33 (Debian): WithInsecure is the plaintext option of that release.
	conn, err := grpc.DialContext(dialCtx, *addr, grpc.WithInsecure(), grpc.WithBlock())
	if err != nil {
		fail("connect %s: %v", *addr, err)
	}
	defer conn.Close()
	fmt.Printf("connected: %s\n", *addr)

	tasks := aifarmv1.NewTaskServiceClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(*timeout)*time.Second)
	defer cancel()
	ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+*apiKey)

	// 1. Create a script task.
	created, err := tasks.CreateTask(ctx, &aifarmv1.CreateTaskRequest{Task: &aifarmv1.Task{
		DisplayName: "go-client",
		Spec: &aifarmv1.Task_Script{Script: &aifarmv1.ScriptSpec{
			Source:     "print(\"hi from go\")\n",
			Entrypoint: "main.py",
		}},
	}})
	if err != nil {
		fail("create: %v", err)
	}
	if created.GetName() == "" {
		fail("create: the task has no name")
	}
	fmt.Printf("created: %s state=%s\n", created.GetName(), created.GetState())

	// 2. Watch it over the server stream until the server ends the stream.
	stream, err := tasks.WatchTask(ctx, &aifarmv1.WatchTaskRequest{Name: created.GetName()})
	if err != nil {
		fail("watch: %v", err)
	}
	var last *aifarmv1.Task
	for {
		task, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			fail("watch: %v", err)
		}
		last = task
		fmt.Printf("watch: %s state=%s\n", task.GetName(), task.GetState())
	}
	if last == nil {
		fail("watch: the stream ended without a single update")
	}
	if last.GetState() != aifarmv1.TaskState_TASK_STATE_COMPLETED {
		fail("watch: ended in %s (%s), want TASK_STATE_COMPLETED", last.GetState(), last.GetResult().GetError())
	}
	if code := last.GetResult().GetExitCode(); code != 0 {
		fail("watch: exit code %d, want 0", code)
	}
	fmt.Printf("completed: %s exit_code=%d\n", last.GetName(), last.GetResult().GetExitCode())

	// 3. An unknown task: NOT_FOUND with a google.rpc.Status detail carrying an ErrorInfo.
	_, err = tasks.GetTask(ctx, &aifarmv1.GetTaskRequest{Name: "tasks/no-such-task"})
	if err == nil {
		fail("not found: GetTask of an unknown task succeeded")
	}
	st := status.Convert(err)
	if st.Code() != codes.NotFound {
		fail("not found: code %s, want NotFound (%s)", st.Code(), st.Message())
	}
	var info *errdetails.ErrorInfo
	for _, detail := range st.Details() {
		if i, ok := detail.(*errdetails.ErrorInfo); ok {
			info = i
		}
	}
	if info == nil || info.GetReason() == "" {
		fail("not found: no google.rpc.ErrorInfo with a reason in the status details (%d details)", len(st.Details()))
	}
	fmt.Printf("not found: code=NOT_FOUND reason=%s domain=%s message=%q\n",
		info.GetReason(), info.GetDomain(), st.Message())
	fmt.Println("ok")
}
