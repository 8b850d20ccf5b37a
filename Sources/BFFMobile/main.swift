import AggregationKit

GatewayCommand.main(profile: .mobile)
