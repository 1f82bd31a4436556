package testenv

import (
	"context"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// Instance is an EC2 instance in the emulator with two network
// interfaces: ENIs[0] in groups Groups[0] ("web") and Groups[1] ("db"),
// ENIs[1] in Groups[1]; and one EBS volume.
type Instance struct {
	VPC, ID string
	Groups  [2]string
	ENIs    [2]string
}

// RunInstance makes an Instance through cfg, tagged with tags.
func RunInstance(tb testing.TB, cfg aws.Config, tags ...ec2types.Tag) Instance {
	tb.Helper()
	c := ec2.NewFromConfig(cfg)
	ctx := context.Background()
	must := func(err error) {
		tb.Helper()
		if err != nil {
			tb.Fatalf("run an instance in the emulator: %v", err)
		}
	}
	var in Instance
	vpc, err := c.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String("10.0.0.0/16")})
	must(err)
	in.VPC = aws.ToString(vpc.Vpc.VpcId)
	sub, err := c.CreateSubnet(ctx, &ec2.CreateSubnetInput{VpcId: aws.String(in.VPC), CidrBlock: aws.String("10.0.1.0/24")})
	must(err)
	for i, name := range []string{"web", "db"} {
		out, err := c.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String(name), Description: aws.String(name), VpcId: aws.String(in.VPC)})
		must(err)
		in.Groups[i] = aws.ToString(out.GroupId)
	}
	run := &ec2.RunInstancesInput{ImageId: aws.String("ami-12c6146b"), MinCount: aws.Int32(1), MaxCount: aws.Int32(1), InstanceType: ec2types.InstanceTypeT3Micro,
		NetworkInterfaces:   []ec2types.InstanceNetworkInterfaceSpecification{{DeviceIndex: aws.Int32(0), SubnetId: sub.Subnet.SubnetId, Groups: in.Groups[:]}},
		BlockDeviceMappings: []ec2types.BlockDeviceMapping{{DeviceName: aws.String("/dev/xvda"), Ebs: &ec2types.EbsBlockDevice{VolumeSize: aws.Int32(8)}}}}
	if len(tags) > 0 {
		run.TagSpecifications = []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeInstance, Tags: tags}}
	}
	out, err := c.RunInstances(ctx, run)
	must(err)
	in.ID = aws.ToString(out.Instances[0].InstanceId)
	in.ENIs[0] = aws.ToString(out.Instances[0].NetworkInterfaces[0].NetworkInterfaceId)
	eni, err := c.CreateNetworkInterface(ctx, &ec2.CreateNetworkInterfaceInput{SubnetId: sub.Subnet.SubnetId, Groups: in.Groups[1:]})
	must(err)
	in.ENIs[1] = aws.ToString(eni.NetworkInterface.NetworkInterfaceId)
	_, err = c.AttachNetworkInterface(ctx, &ec2.AttachNetworkInterfaceInput{InstanceId: aws.String(in.ID), NetworkInterfaceId: aws.String(in.ENIs[1]), DeviceIndex: aws.Int32(1)})
	must(err)
	return in
}

// InterfaceGroups reads the security groups of each of the instance's
// network interfaces, sorted.
func (in Instance) InterfaceGroups(tb testing.TB, cfg aws.Config) map[string][]string {
	tb.Helper()
	out, err := ec2.NewFromConfig(cfg).DescribeNetworkInterfaces(context.Background(), &ec2.DescribeNetworkInterfacesInput{NetworkInterfaceIds: in.ENIs[:]})
	if err != nil {
		tb.Fatal(err)
	}
	got := map[string][]string{}
	for _, n := range out.NetworkInterfaces {
		id := aws.ToString(n.NetworkInterfaceId)
		for _, g := range n.Groups {
			got[id] = append(got[id], aws.ToString(g.GroupId))
		}
		slices.Sort(got[id])
	}
	return got
}
