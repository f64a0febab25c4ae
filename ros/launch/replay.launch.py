"""Replay a bag into declip_node with simulated time.

    ros2 launch declip_ros replay.launch.py bag:=/data/kitchen_bag queries:="red mug" rate:=0.5 loop:=true

Plays the bag with `ros2 bag play --clock` (publishes /clock) and starts declip.launch.py with use_sim_time.
"""
import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, ExecuteProcess, IncludeLaunchDescription
from launch.conditions import IfCondition, UnlessCondition
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration


def generate_launch_description():
    share = get_package_share_directory('declip_ros')
    bag = LaunchConfiguration('bag')
    rate = LaunchConfiguration('rate')

    args = [
        DeclareLaunchArgument('bag', description='Path of the rosbag2 (directory, .mcap or .db3).'),
        DeclareLaunchArgument('rate', default_value='1.0', description='Playback rate.'),
        DeclareLaunchArgument('loop', default_value='false', description='Loop the bag.'),
        DeclareLaunchArgument('camera_namespace', default_value='/camera', description='Camera namespace in the bag.'),
        DeclareLaunchArgument('params_file', default_value=os.path.join(share, 'config', 'params.yaml'),
                              description='ros2 parameters file for declip_node.'),
        DeclareLaunchArgument('model_path', default_value='', description='Model package directory.'),
        DeclareLaunchArgument('device', default_value='auto', description='auto | cuda | webgpu | cpu'),
        DeclareLaunchArgument('queries', default_value='', description='Comma-separated standing queries.'),
    ]

    play = ['ros2', 'bag', 'play', bag, '--clock', '--rate', rate]
    player = ExecuteProcess(cmd=play, output='screen', condition=UnlessCondition(LaunchConfiguration('loop')))
    player_loop = ExecuteProcess(cmd=play + ['--loop'], output='screen',
                                 condition=IfCondition(LaunchConfiguration('loop')))

    node = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(os.path.join(share, 'launch', 'declip.launch.py')),
        launch_arguments={
            'camera_namespace': LaunchConfiguration('camera_namespace'),
            'params_file': LaunchConfiguration('params_file'),
            'model_path': LaunchConfiguration('model_path'),
            'device': LaunchConfiguration('device'),
            'queries': LaunchConfiguration('queries'),
            'use_sim_time': 'true',
        }.items(),
    )

    return LaunchDescription(args + [node, player, player_loop])
